package main

import (
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	tests := []struct {
		name                    string
		in                      string
		passed, failed, skipped int
		s3, pkgFailed           int
		wantOut                 string
	}{
		{
			name: "pass, skip and S3",
			in: `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestS3Put","Output":"miniotest: MinIO server started at 127.0.0.1:1\n"}
{"Action":"pass","Package":"p","Test":"TestS3Put"}
{"Action":"output","Package":"p","Test":"TestB","Output":"x_test.go:3: set KURIER_BIG\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"pass","Package":"p","Elapsed":1.5}`,
			passed: 2, skipped: 1, s3: 1, wantOut: "ok   p (1.5s)",
		},
		{
			name: "failed test prints its output",
			in: `{"Action":"output","Package":"p","Test":"TestC","Output":"boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p"}`,
			failed: 1, pkgFailed: 1, wantOut: "boom",
		},
		{
			name: "build failure",
			in: `{"ImportPath":"p [p.test]","Action":"build-output","Output":"x.go:1:1: undefined: y\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
{"Action":"start","Package":"p"}
{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p","Elapsed":0,"FailedBuild":"p [p.test]"}`,
			pkgFailed: 1, wantOut: "undefined: y",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			res, err := summarise(strings.NewReader(tt.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if res.passed != tt.passed || res.failed != tt.failed || res.skipped != tt.skipped || res.s3Run != tt.s3 || len(res.pkgFailed) != tt.pkgFailed {
				t.Fatalf("got %+v", res)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}

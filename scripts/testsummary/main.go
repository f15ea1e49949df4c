// Command testsummary reads `go test -json` on stdin, prints the output of
// failed tests and a summary (passed, failed, skipped, and how many S3 tests
// ran against a real MinIO), and exits non-zero if anything failed, if the
// build failed, or if a full run (KURIER_EXPECT_S3=1) ran no S3 test.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
	// ImportPath is set on build-output and build-fail events (go 1.24+),
	// which carry the compiler's messages.
	ImportPath string
	// FailedBuild names the build that failed on a package's fail event
	// (its build-fail event was counted already).
	FailedBuild string
}

type result struct {
	passed, failed, skipped int
	s3Run                   int
	minioTests              int
	pkgFailed               []string
	failedTests             []string
	skips                   []string
}

func main() {
	res, err := summarise(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped; S3 tests run against MinIO: %d (tests that started a MinIO server: %d)\n",
		res.passed, res.failed, res.skipped, res.s3Run, res.minioTests)
	for _, s := range res.skips {
		fmt.Println("  skipped:", s)
	}
	code := 0
	if res.failed > 0 || len(res.pkgFailed) > 0 {
		fmt.Println("FAIL:", strings.Join(append(res.failedTests, res.pkgFailed...), ", "))
		code = 1
	}
	if os.Getenv("KURIER_EXPECT_S3") == "1" && res.s3Run == 0 {
		fmt.Println("FAIL: a full run must execute the S3 tests against MinIO, and none ran")
		code = 1
	}
	os.Exit(code)
}

func summarise(r io.Reader, w io.Writer) (result, error) {
	var res result
	output := map[string][]string{} // test key -> lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// Build errors arrive as plain text.
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
			continue
		case "build-fail":
			res.pkgFailed = append(res.pkgFailed, e.ImportPath+" (build)")
			continue
		case "output":
			output[key] = append(output[key], e.Output)
			if e.Test != "" && strings.Contains(e.Output, minioMarker) {
				res.minioTests++
			}
			if e.Test == "" && strings.HasPrefix(e.Output, "FAIL") {
				fmt.Fprint(w, e.Output)
			}
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(w, "ok   %s (%.1fs)\n", e.Package, e.Elapsed)
				continue
			}
			res.passed++
			if isS3(e.Test) {
				res.s3Run++
			}
			delete(output, key)
		case "fail":
			if e.Test == "" && e.FailedBuild != "" {
				continue
			}
			if e.Test == "" {
				res.pkgFailed = append(res.pkgFailed, e.Package)
				fmt.Fprintf(w, "FAIL %s (%.1fs)\n", e.Package, e.Elapsed)
				for _, l := range output[key] {
					fmt.Fprint(w, "    ", l)
				}
				continue
			}
			res.failed++
			res.failedTests = append(res.failedTests, e.Package+"."+e.Test)
			if isS3(e.Test) {
				res.s3Run++
			}
			fmt.Fprintf(w, "--- FAIL %s %s\n", e.Package, e.Test)
			for _, l := range output[key] {
				fmt.Fprint(w, "    ", l)
			}
		case "skip":
			if e.Test == "" {
				continue
			}
			res.skipped++
			reason := ""
			for _, l := range output[key] {
				if strings.Contains(l, ".go:") {
					reason = strings.TrimSpace(l)
				}
			}
			res.skips = append(res.skips, e.Package+"."+e.Test+" "+reason)
		}
	}
	sort.Strings(res.skips)
	return res, sc.Err()
}

// minioMarker is what miniotest.Start logs (miniotest.StartedMarker; not
// imported, to keep this tool free of test dependencies).
const minioMarker = "miniotest: MinIO server started at"

// isS3 counts leaf tests that ran against the S3 driver.
func isS3(name string) bool {
	return strings.Contains(strings.SplitN(name, "/", 2)[0], "S3")
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/kurier/kurier/node/api/problem"
)

// DecodeJSON reads a JSON request body into v. It returns a problem ready
// to write when the media type is wrong, the body is too large or the JSON
// is malformed (with the byte offset of the error).
func DecodeJSON(r *http.Request, v any, mediaTypes ...string) *problem.Problem {
	if len(mediaTypes) == 0 {
		mediaTypes = []string{"application/json"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		ok := false
		for _, want := range mediaTypes {
			if err == nil && mt == want {
				ok = true
			}
		}
		if !ok {
			return problem.New(problem.UnsupportedMedia, http.StatusUnsupportedMediaType,
				fmt.Sprintf("Content-Type %q is not supported; use %v", ct, mediaTypes))
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return BodyProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if p := tooLarge(err); p != nil {
			return p
		}
		if errors.Is(err, ErrSlowBody) {
			return BodyProblem(err)
		}
		return problem.New(problem.BadRequest, http.StatusBadRequest, "request body holds more than one JSON value")
	}
	return nil
}

// BodyProblem maps an error met while reading or decoding a body.
func BodyProblem(err error) *problem.Problem {
	if p := tooLarge(err); p != nil {
		return p
	}
	if errors.Is(err, ErrSlowBody) {
		return problem.New(problem.Timeout, http.StatusRequestTimeout, "the request body arrived too slowly")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return problem.New(problem.BadRequest, http.StatusBadRequest,
			fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)).With("offset", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return problem.New(problem.BadRequest, http.StatusBadRequest,
			fmt.Sprintf("property %q: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value)).With("property", typ.Field)
	}
	if errors.Is(err, io.EOF) {
		return problem.New(problem.BadRequest, http.StatusBadRequest, "request body is empty")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return problem.New(problem.BadRequest, http.StatusBadRequest, "request body ends in the middle of a JSON value")
	}
	return problem.New(problem.BadRequest, http.StatusBadRequest, "cannot read request body")
}

func tooLarge(err error) *problem.Problem {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body exceeds the limit of %d bytes", mb.Limit))
	}
	return nil
}

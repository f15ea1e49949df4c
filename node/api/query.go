package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kurier/kurier/node/api/problem"
)

// QueryLimit parses the page-size parameter name of q: def when it is
// absent, else an integer from 1 to maxV. Anything else is a 400 problem
// naming the parameter, for the handler to write as it is.
func QueryLimit(q url.Values, name string, def, maxV int) (int, *problem.Problem) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > maxV {
		return 0, problem.New(problem.BadRequest, http.StatusBadRequest,
			fmt.Sprintf("%s must be between 1 and %d", name, maxV)).With("parameter", name)
	}
	return v, nil
}

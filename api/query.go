package api

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Query parameters every route reads alike. Each refuses what it does not
// know with a 400 naming the parameter, rather than reading it as the
// default.

// queryBool reads an optional true/false query parameter; absent or empty
// is false. Anything else is refused: commit=yes read as false would be a
// dry run the caller took for an import.
func queryBool(c *gin.Context, name string) (bool, error) {
	if err := queryOnce(c, name); err != nil {
		return false, err
	}
	v, given := c.GetQuery(name)
	if given && v == "" {
		// ?commit with no value: a dry run the caller took for a load.
		return false, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "true or false"})
	}
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "true or false", Value: v})
	}
}

// queryOnce refuses a parameter given more than once: which of
// ?commit=true&commit=false holds would be a guess.
func queryOnce(c *gin.Context, name string) error {
	if vs := c.QueryArray(name); len(vs) > 1 {
		return errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "given more than once", Value: strings.Join(vs, ",")})
	}
	return nil
}

// queryBools reads the named true/false query parameters into the bools,
// in order, and returns the first error.
func queryBools(c *gin.Context, pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		b, err := queryBool(c, pairs[i].(string))
		if err != nil {
			return err
		}
		*pairs[i+1].(*bool) = b
	}
	return nil
}

// queryAs reads ?as=, the side of a sharing relation the caller lists:
// consumer (the default) or provider.
func queryAs(c *gin.Context) (provider bool, err error) {
	if err := queryOnce(c, "as"); err != nil {
		return false, err
	}
	switch v := c.Query("as"); v {
	case "", "consumer":
		return false, nil
	case "provider":
		return true, nil
	default:
		return false, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?as", Reason: "consumer or provider", Value: v})
	}
}

package netcfg

import (
	"errors"
	"fmt"
)

// ParseError is a configuration file the check cannot parse. Check
// returns it (status error, exit 2) and Fix writes nothing: editing a file
// we do not understand could break it further.
type ParseError struct {
	Path string // logical path
	Line int    // 1-based; 0 when unknown
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parse %s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("parse %s: %s", e.Path, e.Msg)
}

// ErrParse matches every ParseError with errors.Is.
var ErrParse = errors.New("unparsable network configuration")

// Is makes errors.Is(err, ErrParse) true for a ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrParse }

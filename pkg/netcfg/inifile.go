package netcfg

import (
	"errors"

	"github.com/prepagent/prepagent/pkg/ini"
)

// parseINI parses a NetworkManager keyfile or systemd file strictly;
// comment lists the comment characters ("#" for GKeyFile, "#;" for
// systemd). Errors name p and the line.
func parseINI(p string, data []byte, comment string) (*ini.File, error) {
	f, err := ini.Parse(data, ini.Options{Comment: comment})
	var se *ini.SyntaxError
	if errors.As(err, &se) {
		return nil, &ParseError{Path: p, Line: se.Line, Msg: se.Msg}
	}
	return f, err
}

func keyIs(names ...string) func(string) bool {
	return func(k string) bool {
		for _, n := range names {
			if k == n {
				return true
			}
		}
		return false
	}
}

// Package udevrule reads udev rules text: rules with their line numbers
// (continuation lines joined) and which rules pin a network interface
// name to a MAC address. A leaf: it takes bytes, so the initramfs reader
// (rules inside an image) and the udev-persistent-net check (rules of the
// prepared OS) share it without the reader linking the check.
package udevrule

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Rule is one logical rule: continuation lines ("\" at the end) joined,
// blanks around it trimmed.
type Rule struct {
	Line int // 1-based line the rule starts on
	Text string
}

// maxLine bounds one physical line; real rules are a few hundred bytes.
const maxLine = 1 << 20

// Parse returns the rules of data, skipping blank and comment lines. A
// line longer than 1 MiB ends the reading there (what was read is
// returned): such a file is not rules but garbage, and callers only look
// for patterns.
func Parse(data []byte) []Rule {
	var out []Rule
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), maxLine)
	n, start := 0, 0
	var cur strings.Builder
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		rule := strings.TrimSpace(cur.String())
		cur.Reset()
		if rule == "" || strings.HasPrefix(rule, "#") {
			continue
		}
		out = append(out, Rule{Line: start, Text: rule})
	}
	return out
}

var (
	// A MAC match: ATTR{address}==, ATTRS{address}== or SLES 10/11's
	// SYSFS{address}==.
	addrMatch = regexp.MustCompile(`(ATTRS?|SYSFS)\{address\}\s*==`)
	// A rename: NAME=, NAME:= (not NAME==, a match), or SUSE's
	// rename_netiface helper.
	nameAssign = regexp.MustCompile(`(^|[\s,])NAME\s*:?=[^=]|rename_netiface`)
)

// Pins reports whether a rule binds a MAC address to an interface name.
func Pins(rule string) bool {
	return addrMatch.MatchString(rule) && nameAssign.MatchString(rule)
}

// PinningLines returns the "N: rule" lines of data that bind a MAC address
// to an interface name.
func PinningLines(data []byte) []string {
	var out []string
	for _, r := range Parse(data) {
		if Pins(r.Text) {
			out = append(out, fmt.Sprintf("%d: %s", r.Line, r.Text))
		}
	}
	return out
}

// Empty reports whether data holds nothing but blank and comment lines
// (an empty file in /etc/udev/rules.d masks a vendor file of that name).
func Empty(data []byte) bool {
	for _, l := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

package shellvar

import (
	"errors"
	"testing"
)

func TestUnquote(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: `dhcp`, want: "dhcp"},
		{in: `"Debian GNU/Linux 12 (bookworm)"`, want: "Debian GNU/Linux 12 (bookworm)"},
		{in: `'a b'`, want: "a b"},
		{in: `"a \"b\" \$c \\ \x"`, want: `a "b" $c \ \x`},
		{in: `'a\$b'`, want: `a\$b`}, // no escapes inside single quotes
		{in: `a\ b`, want: "a b"},
		{in: `"a"'b'c`, want: "abc"},
		{in: `"x"   # comment`, want: "x"},
		{in: ``, want: ""},
		{in: `"x`, bad: true},
		{in: `'x`, bad: true},
		{in: `a b`, bad: true},
		{in: `$(reboot)`, bad: true},
		{in: "`reboot`", bad: true},
		{in: `a;b`, bad: true},
	}
	for _, tt := range tests {
		got, err := Unquote(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("Unquote(%q) = %q, %v; want %q, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct {
		in    string
		style byte
		want  string
	}{
		{"dhcp", 0, "dhcp"},
		{"a b", 0, `"a b"`},
		{"a b", '\'', "'a b'"},
		{"it's", '\'', `"it's"`},
		{`a"$b\` + "`", '"', `"a\"\$b\\` + "\\`\""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		got := Quote(tt.in, tt.style)
		if got != tt.want {
			t.Errorf("Quote(%q, %q) = %q, want %q", tt.in, tt.style, got, tt.want)
		}
		if back, err := Unquote(got); err != nil || back != tt.in {
			t.Errorf("Unquote(Quote(%q)) = %q, %v", tt.in, back, err)
		}
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		in, key, value string
		quote          byte
		export         bool
		bad            bool
	}{
		{in: `BOOTPROTO=dhcp`, key: "BOOTPROTO", value: "dhcp"},
		{in: `NAME="System eth0"`, key: "NAME", value: "System eth0", quote: '"'},
		{in: `IPADDR='10.0.0.1/24'   # install network`, key: "IPADDR", value: "10.0.0.1/24", quote: '\''},
		{in: `export ONBOOT=yes`, key: "ONBOOT", value: "yes", export: true},
		{in: "  X=1\r", key: "X", value: "1"},
		{in: `  # comment`},
		{in: ``},
		{in: `IPADDR=10.0.0.1 ONBOOT=yes`, bad: true},
		{in: `if true; then`, bad: true},
		{in: `1X=a`, bad: true},
	}
	for _, tt := range tests {
		l, err := ParseLine(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("ParseLine(%q) error = %v, want bad=%v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (l.Key != tt.key || l.Value != tt.value || l.Quote != tt.quote || l.Export != tt.export) {
			t.Errorf("ParseLine(%q) = %+v", tt.in, l)
		}
	}
}

func TestFileEdit(t *testing.T) {
	in := "# head\nBOOTPROTO='static' # yast\n  export ONBOOT=\"no\"\nIPADDR=10.0.0.2\nNAME=x"
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Bytes()) != in {
		t.Fatalf("round trip: %q", f.Bytes())
	}
	if v, ok := f.Get("ONBOOT"); !ok || v != "no" {
		t.Errorf("Get(ONBOOT) = %q, %v", v, ok)
	}
	f.Set("BOOTPROTO", "dhcp")
	f.Set("ONBOOT", "yes")
	f.Set("NAME", "x") // unchanged: the line stays as it was
	f.Set("STARTMODE", "auto")
	if rm := f.Delete(func(k, _ string) bool { return k == "IPADDR" }); len(rm) != 1 {
		t.Errorf("Delete removed %v", rm)
	}
	want := "# head\nBOOTPROTO='dhcp' # yast\n  export ONBOOT=\"yes\"\nNAME=x\nSTARTMODE=auto\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("after edits:\n%q\nwant\n%q", got, want)
	}
}

func TestParseError(t *testing.T) {
	_, err := Parse([]byte("A=1\nB=\"x\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 2 {
		t.Fatalf("Parse error = %v, want a SyntaxError on line 2", err)
	}
}

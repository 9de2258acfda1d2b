package udevrule

import (
	"slices"
	"testing"
)

func TestPinningLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"generated", `SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="fa:16:3e:4b:1c:02", ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"`, 1},
		{"attrs colon-assign", `ACTION=="add", SUBSYSTEM=="net", ATTRS{address}=="aa:bb:cc:dd:ee:ff", NAME:="lan0"`, 1},
		{"suse rename helper", `SUBSYSTEM=="net", ACTION=="add", SYSFS{address}=="fa:16:3e:00:11:22", IMPORT="/lib/udev/rename_netiface %k eth0"`, 1},
		{"continuation", "SUBSYSTEM==\"net\", \\\n  ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"", 1},
		{"comment", `# SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"`, 0},
		{"name is a match", `SUBSYSTEM=="net", NAME=="eth0", ATTR{address}=="52:54:00:12:34:56", RUN+="/bin/true"`, 0},
		{"mac without rename", `SUBSYSTEM=="net", ATTR{address}=="52:54:00:aa:bb:cc", RUN+="/usr/local/bin/x"`, 0},
		{"rename without mac", `SUBSYSTEM=="net", ACTION=="add", NAME="eth0"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PinningLines([]byte(tt.in)); len(got) != tt.want {
				t.Errorf("PinningLines(%q) = %q, want %d line(s)", tt.in, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	in := "# c\n\nA==\"1\", \\\n  B=\"2\"\n  C==\"3\"  \n"
	want := []Rule{{Line: 3, Text: `A=="1",   B="2"`}, {Line: 5, Text: `C=="3"`}}
	if got := Parse([]byte(in)); !slices.Equal(got, want) {
		t.Errorf("Parse = %+v, want %+v", got, want)
	}
	if got := PinningLines([]byte("\n" + `SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"` + "\n")); !slices.Equal(got, []string{`2: SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"`}) {
		t.Errorf("PinningLines = %q", got)
	}
}

func TestEmpty(t *testing.T) {
	for in, want := range map[string]bool{"": true, "# masked\n\n  \n": true, "  # x\n": true, "# x\nA==\"1\"\n": false} {
		if got := Empty([]byte(in)); got != want {
			t.Errorf("Empty(%q) = %v, want %v", in, got, want)
		}
	}
}

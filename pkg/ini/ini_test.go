package ini

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseStrict(t *testing.T) {
	bad := []struct {
		in   string
		line int
	}{
		{"[a]\nx\n", 2},
		{"k=v\n[a]\n", 1},
		{"[a]\n[\n", 2},
		{"[a]\n=v\n", 2},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(tt.in), Options{Comment: "#"})
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != tt.line {
			t.Errorf("Parse(%q) = %v, want a SyntaxError on line %d", tt.in, err, tt.line)
		}
	}
	// ';' is a comment for systemd, a syntax error for GKeyFile.
	if _, err := Parse([]byte("[a]\n; c\n"), Options{Comment: "#;"}); err != nil {
		t.Errorf("systemd comment: %v", err)
	}
	if _, err := Parse([]byte("[a]\n; c\n"), Options{Comment: "#"}); err == nil {
		t.Errorf("';' accepted as a GKeyFile comment")
	}
}

func TestLenient(t *testing.T) {
	f, err := Parse([]byte("top=1\n[]\nx\n[b\n[ repo ]\nbaseurl = http://a\n  http://b\n"), Options{Comment: "#;", Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []Kind{Key, Section, Other, Other, Section, Key, Other}
	for i, l := range f.Lines {
		if l.Kind != kinds[i] {
			t.Errorf("line %d %q: kind %d, want %d", i+1, l.Raw, l.Kind, kinds[i])
		}
	}
	if v, _ := f.Get("", "top"); v != "1" {
		t.Errorf("key before any section = %q", v)
	}
	if v, _ := f.Get("repo", "baseurl"); v != "http://a" {
		t.Errorf("baseurl = %q", v)
	}
}

func TestRepeatedKeysAndSections(t *testing.T) {
	in := "[Match]\nName=en*\nName=eth*\n\n[Address]\nAddress=10.0.0.2/24\n\n[Address]\nAddress=10.0.0.3/24\n[Network]\nDNS=1.1.1.1\nDNS=8.8.8.8\n"
	f, err := Parse([]byte(in), Options{Comment: "#;"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Values("Match", "Name"); !reflect.DeepEqual(got, []string{"en*", "eth*"}) {
		t.Errorf("Values(Match, Name) = %v", got)
	}
	if got := f.Values("Address", "Address"); len(got) != 2 {
		t.Errorf("Values(Address, Address) = %v", got)
	}
	if v, _ := f.Get("Network", "DNS"); v != "8.8.8.8" {
		t.Errorf("Get(Network, DNS) = %q, want the last", v)
	}
	if hs := f.Headers("Address"); !reflect.DeepEqual(hs, []int{4, 7}) {
		t.Errorf("Headers(Address) = %v", hs)
	}
	if got := f.Keys("Network"); !reflect.DeepEqual(got, []string{"DNS", "DNS"}) {
		t.Errorf("Keys(Network) = %v", got)
	}
}

func TestEdits(t *testing.T) {
	in := "# keep\n[connection]\nid=x\nautoconnect = false\n\n[ipv4]\nmethod=manual\naddress1=10.0.0.2/24\n# trailing comment"
	f, err := Parse([]byte(in), Options{Comment: "#"})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Bytes()) != in {
		t.Fatalf("round trip: %q", f.Bytes())
	}
	f.Set("connection", "autoconnect", "true") // keeps the spacing
	f.Set("connection", "multi-connect", "3")  // after the section's last key
	f.Set("ipv4", "method", "auto")            // in place
	f.Set("ipv6", "method", "auto")            // new section at the end
	if rm := f.Delete("ipv4", func(k string) bool { return k == "address1" }); !reflect.DeepEqual(rm, []string{"address1=10.0.0.2/24"}) {
		t.Errorf("Delete = %v", rm)
	}
	want := "# keep\n[connection]\nid=x\nautoconnect = true\nmulti-connect=3\n\n[ipv4]\nmethod=auto\n# trailing comment\n\n[ipv6]\nmethod=auto\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("after edits:\n%q\nwant\n%q", got, want)
	}
}

func TestDeleteSection(t *testing.T) {
	in := "[Match]\nName=eth0\n\n# static address\n[Address]\nAddress=10.0.0.2/24\n\n# routes\n[Route]\nGateway=10.0.0.1\n"
	f, err := Parse([]byte(in), Options{Comment: "#;"})
	if err != nil {
		t.Fatal(err)
	}
	f.DeleteSection(f.Headers("Address")[0])
	want := "[Match]\nName=eth0\n\n\n# routes\n[Route]\nGateway=10.0.0.1\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("after DeleteSection(Address):\n%q\nwant\n%q", got, want)
	}
	f.DeleteSection(f.Headers("Route")[0])
	want = "[Match]\nName=eth0\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("after DeleteSection(Route):\n%q\nwant\n%q", got, want)
	}
}

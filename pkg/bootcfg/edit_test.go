package bootcfg

import (
	"strings"
	"testing"
)

func TestAddCmdlineLinux(t *testing.T) {
	const arg = "console=ttyS0"
	for _, tc := range []struct{ in, want string }{
		{"GRUB_CMDLINE_LINUX=\"\"\n", "GRUB_CMDLINE_LINUX=\"console=ttyS0\"\n"},
		{"GRUB_CMDLINE_LINUX=\"quiet \"\n", "GRUB_CMDLINE_LINUX=\"quiet console=ttyS0\"\n"},
		{"  GRUB_CMDLINE_LINUX=\"  quiet\"\nX=1", "  GRUB_CMDLINE_LINUX=\"  quiet console=ttyS0\"\nX=1"},
		{"export GRUB_CMDLINE_LINUX='a b'  \n", "export GRUB_CMDLINE_LINUX='a b console=ttyS0'\n"},
		// Not plain, or not the only one: a line that appends.
		{"GRUB_CMDLINE_LINUX=\"$X\"\n", "GRUB_CMDLINE_LINUX=\"$X\"\n# why\nGRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX} console=ttyS0\"\n"},
		{"GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"b\"", "GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"b\"\n# why\nGRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX} console=ttyS0\"\n"},
		{"", "# why\nGRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX} console=ttyS0\"\n"},
	} {
		got := string(AddCmdlineLinux([]byte(tc.in), arg, "why"))
		if got != tc.want {
			t.Errorf("AddCmdlineLinux(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if v := ParseDefaults([]byte(got)).Vars["GRUB_CMDLINE_LINUX"]; !strings.HasSuffix(v, arg) {
			t.Errorf("after AddCmdlineLinux(%q): GRUB_CMDLINE_LINUX = %q, does not end in %s", tc.in, v, arg)
		}
	}
	for in, want := range map[string]bool{
		"GRUB_TIMEOUT=5\n":                                     true,
		"GRUB_CMDLINE_LINUX=\"a\"\n":                           true,
		"GRUB_CMDLINE_LINUX=\"a\" # c\n":                       false,
		"GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"b\"\n": false,
		"GRUB_CMDLINE_LINUX=\"a\\\"b\"\n":                      false,
	} {
		if got := InPlace([]byte(in)); got != want {
			t.Errorf("InPlace(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestReplaceArg(t *testing.T) {
	in := "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet root=/dev/vda1\"\n# root=/dev/vda1\nGRUB_CMDLINE_LINUX='root=/dev/vda1'\nGRUB_CMDLINE_LINUX=\"root=/dev/vda10\"\n"
	want := "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet root=UUID=$1\"\n# root=/dev/vda1\nGRUB_CMDLINE_LINUX='root=UUID=$1'\nGRUB_CMDLINE_LINUX=\"root=/dev/vda10\"\n"
	if got := string(ReplaceArg([]byte(in), "root=/dev/vda1", "root=UUID=$1")); got != want {
		t.Errorf("ReplaceArg:\n got %q\nwant %q", got, want)
	}
}

func TestLineEdits(t *testing.T) {
	if got := string(AppendArg([]byte("root=/dev/vda1 ro\n\n"), "net.ifnames=0")); got != "root=/dev/vda1 ro net.ifnames=0\n" {
		t.Errorf("AppendArg = %q", got)
	}
	bls := "title x\noptions root=/dev/vda1 ro \t\nlinux /vmlinuz-x\n"
	if got, ok := AddBLSOption([]byte(bls), "net.ifnames=0"); !ok || string(got) != "title x\noptions root=/dev/vda1 ro net.ifnames=0\nlinux /vmlinuz-x\n" {
		t.Errorf("AddBLSOption = %q %v", got, ok)
	}
	if got, ok := AddBLSOption([]byte("options $kernelopts\n"), "net.ifnames=0"); ok || string(got) != "options $kernelopts\n" {
		t.Errorf("AddBLSOption($kernelopts) = %q %v, want unchanged", got, ok)
	}
	env := "# GRUB Environment Block\nkernelopts=root=/dev/vda1 ro \n"
	env += strings.Repeat("#", 1024-len(env))
	got, ok := AddKernelopts([]byte(env), "net.ifnames=0")
	if !ok || len(got) != 1024 || !strings.Contains(string(got), "\nkernelopts=root=/dev/vda1 ro net.ifnames=0\n#") {
		t.Errorf("AddKernelopts: ok=%v len=%d\n%s", ok, len(got), got)
	}
	full := "# GRUB Environment Block\nkernelopts=x\n" + strings.Repeat("a", 1024-len("# GRUB Environment Block\nkernelopts=x\n"))
	if _, ok := AddKernelopts([]byte(full), "net.ifnames=0"); ok {
		t.Error("AddKernelopts grew a block without padding left")
	}
}

// TestReplaceEdits: root=/resume= rewrites in every file format touch the
// whole argument only, on the lines that carry command lines.
func TestReplaceEdits(t *testing.T) {
	const old, new = "root=/dev/vda2", "root=UUID=c2c2-c2"
	// Twice on one line, next to a quote, and a longer name left alone.
	if got, ok := replaceWord(`a root=/dev/vda2 root=/dev/vda2 "root=/dev/vda2" root=/dev/vda20 xroot=/dev/vda2`, old, new); !ok ||
		got != `a root=UUID=c2c2-c2 root=UUID=c2c2-c2 "root=UUID=c2c2-c2" root=/dev/vda20 xroot=/dev/vda2` {
		t.Errorf("replaceWord = %q %v", got, ok)
	}
	cfg := "menuentry 'x' {\r\n\tlinux /vmlinuz root=/dev/vda2 ro\r\n}\nmenuentry 'y' {\n\tlinux /vmlinuz root=/dev/vda2 single\n}\n"
	got, ok := ReplaceLineArg([]byte(cfg), 2, old, new)
	if want := "menuentry 'x' {\r\n\tlinux /vmlinuz root=UUID=c2c2-c2 ro\r\n}\nmenuentry 'y' {\n\tlinux /vmlinuz root=/dev/vda2 single\n}\n"; !ok || string(got) != want {
		t.Errorf("ReplaceLineArg line 2 = %q %v", got, ok)
	}
	for _, n := range []int{0, 1, 3, 99} {
		if got, ok := ReplaceLineArg([]byte(cfg), n, old, new); ok || string(got) != cfg {
			t.Errorf("ReplaceLineArg line %d changed %q", n, got)
		}
	}
	bls := "title x\n# options root=/dev/vda2\noptions root=/dev/vda2 ro\noptions resume=/dev/vda3\n"
	if got, ok := ReplaceBLSOption([]byte(bls), old, new); !ok || string(got) != "title x\n# options root=/dev/vda2\noptions root=UUID=c2c2-c2 ro\noptions resume=/dev/vda3\n" {
		t.Errorf("ReplaceBLSOption = %q %v", got, ok)
	}
	if got, ok := ReplaceBLSOption([]byte("options $kernelopts\n"), old, new); ok || string(got) != "options $kernelopts\n" {
		t.Errorf("ReplaceBLSOption($kernelopts) = %q %v, want unchanged", got, ok)
	}
	if got, ok := ReplaceCmdlineArg([]byte("root=/dev/vda2 ro\n"), old, new); !ok || string(got) != "root=UUID=c2c2-c2 ro\n" {
		t.Errorf("ReplaceCmdlineArg = %q %v", got, ok)
	}

	head := "# GRUB Environment Block\nkernelopts=root=/dev/vda2 ro resume=/dev/vda3\nsaved_entry=x\n"
	env := head + strings.Repeat("#", 1024-len(head))
	got, ok = ReplaceKernelopts([]byte(env), old, new)
	if !ok || len(got) != 1024 || !strings.Contains(string(got), "\nkernelopts=root=UUID=c2c2-c2 ro resume=/dev/vda3\nsaved_entry=x\n#") {
		t.Errorf("ReplaceKernelopts grow: ok=%v len=%d\n%s", ok, len(got), got)
	}
	if ParseGrubenv(got)["kernelopts"] != "root=UUID=c2c2-c2 ro resume=/dev/vda3" {
		t.Errorf("kernelopts after edit = %q", ParseGrubenv(got)["kernelopts"])
	}
	// Shrinking gives the bytes back to the padding.
	back, ok := ReplaceKernelopts(got, new, old)
	if !ok || string(back) != env {
		t.Errorf("ReplaceKernelopts shrink: ok=%v\n%q\nwant\n%q", ok, back, env)
	}
	full := "kernelopts=root=/dev/vda2\n" + strings.Repeat("a", 1024-len("kernelopts=root=/dev/vda2\n"))
	if _, ok := ReplaceKernelopts([]byte(full), old, "root=UUID=c2c2c2c2-0000"); ok {
		t.Error("ReplaceKernelopts grew a block without padding left")
	}
	if _, ok := ReplaceKernelopts([]byte(env), "root=/dev/vda9", new); ok {
		t.Error("ReplaceKernelopts reported a change for an argument it does not hold")
	}
	// saved_entry holds the text too, but only kernelopts is a command line.
	odd := "saved_entry=root=/dev/vda2\nkernelopts=ro\n"
	if got, ok := ReplaceKernelopts([]byte(odd), old, new); ok || string(got) != odd {
		t.Errorf("ReplaceKernelopts edited another variable: %q", got)
	}
}

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

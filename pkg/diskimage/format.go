package diskimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
)

// Formats are the disk image formats prepagent image opens.
var Formats = []string{"raw", "qcow2", "vmdk", "vhd", "vhdx"}

// qemuDriver is the QEMU block driver of each non-raw format.
var qemuDriver = map[string]string{"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx"}

// Detect names the format of an image file by its magic bytes: qcow2
// "QFI\xfb", vmdk "KDMV" (sparse extent) or a text descriptor, vhdx
// "vhdxfile", vhd "conectix" (dynamic: a footer copy at offset 0; fixed:
// only the footer in the last 512 bytes); anything else is raw.
func Detect(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return "qcow2", nil
	case bytes.HasPrefix(head, []byte("KDMV")), bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return "vmdk", nil
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return "vhdx", nil
	case bytes.HasPrefix(head, []byte("conectix")):
		return "vhd", nil
	}
	if fi, err := f.Stat(); err == nil && fi.Size() >= 1024 {
		foot := make([]byte, 8)
		if _, err := f.ReadAt(foot, fi.Size()-512); err == nil && string(foot) == "conectix" {
			return "vhd", nil
		}
	}
	return "raw", nil
}

// Info is what qemu-img says about a non-raw image.
type Info struct {
	VirtualSize int64  `json:"virtual-size"`
	Format      string `json:"format"`
	ActualSize  int64  `json:"actual-size"`
	Backing     string `json:"backing-filename"`
	Specific    struct {
		Data struct {
			Extents []struct {
				Filename string `json:"filename"`
			} `json:"extents"`
			CreateType string `json:"create-type"`
		} `json:"data"`
	} `json:"format-specific"`
}

// infoTimeout bounds qemu-img on a hostile image (a crafted header can
// make it work for a long time).
const infoTimeout = 60 * time.Second

// probeInfo runs qemu-img info with the format fixed (never probed: a
// raw image whose first bytes look like qcow2 must not become one) and
// refuses what would make QEMU open other files: backing files and vmdk
// extents outside the image file itself. The image is untrusted input,
// and such a reference could name any file or disk of this host.
func probeInfo(ctx context.Context, run command.Runner, file, format string) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	res, err := run.Run(ctx, command.Cmd{Argv: []string{"qemu-img", "info", "--output=json", "-f", qemuDriver[format], "--", file}})
	if err != nil {
		return Info{}, fmt.Errorf("qemu-img info %s: %w", file, err)
	}
	var in Info
	if err := json.Unmarshal(res.Stdout, &in); err != nil {
		return Info{}, fmt.Errorf("parse qemu-img info of %s: %w", file, err)
	}
	if in.Backing != "" {
		return Info{}, fmt.Errorf("%s has a backing file %q: flatten it first (qemu-img convert -O %s)", file, in.Backing, format)
	}
	abs, _ := filepath.Abs(file)
	for _, e := range in.Specific.Data.Extents {
		if p, _ := filepath.Abs(e.Filename); p != abs && e.Filename != file {
			return Info{}, fmt.Errorf("%s is a vmdk with an extent in another file (%s): only single-file vmdk images are opened (qemu-img convert -O vmdk -o subformat=streamOptimized)", file, e.Filename)
		}
	}
	if in.VirtualSize <= 0 {
		return Info{}, fmt.Errorf("qemu-img info %s: no virtual size", file)
	}
	return in, nil
}

// IMSFormats are the file formats IMS imports as a system disk image
// (Huawei IMS "Common Image Formats": imported as external image files).
var IMSFormats = []string{"vhd", "vmdk", "qcow2", "raw", "vhdx", "qed", "vdi", "qcow", "zvhd2", "zvhd"}

// Advice is what the report says about importing this file into IMS.
type Advice struct {
	// Accepted is true when IMS imports the format as it is.
	Accepted bool `json:"ims_accepts"`
	// Convert is a qemu-img command that makes the advised format, when
	// one is advised.
	Convert string `json:"convert,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Advise tells whether IMS takes the file as it is and whether a
// conversion is worth it: raw uploads every zero byte and vmdk/vhd/vhdx
// are converted by IMS itself (slower import), so qcow2 is advised for
// those; zvhd2 (IMS's own, fastest import) needs Huawei's qemu-img-hw.
func Advise(file, format string, virtual, actual int64) Advice {
	a := Advice{Accepted: strings.Contains(" "+strings.Join(IMSFormats, " ")+" ", " "+format+" ")}
	out := strings.TrimSuffix(file, filepath.Ext(file)) + ".qcow2"
	if _, err := os.Stat(out); err == nil || out == file {
		// Never advise a command that overwrites an existing file.
		out = strings.TrimSuffix(file, filepath.Ext(file)) + "-ims.qcow2"
	}
	switch format {
	case "qcow2":
		a.Reason = "qcow2 is imported as it is; zvhd2 (qemu-img-hw convert -O zvhd2) imports fastest"
	case "raw":
		a.Convert = fmt.Sprintf("qemu-img convert -p -f raw -O qcow2 %s %s", shellQuote(file), shellQuote(out))
		a.Reason = fmt.Sprintf("raw uploads all %d GiB; qcow2 holds only the %d MiB in use", (virtual+1<<30-1)>>30, actual>>20)
	default:
		a.Convert = fmt.Sprintf("qemu-img convert -p -f %s -O qcow2 %s %s", qemuDriver[format], shellQuote(file), shellQuote(out))
		a.Reason = format + " is accepted, but IMS converts it during the import; qcow2 (or zvhd2) imports faster"
	}
	return a
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

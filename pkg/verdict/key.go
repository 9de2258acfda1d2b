package verdict

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxKeyFile bounds a key file: a key is a line of text.
const maxKeyFile = 4096

// ReadKeyFile reads a shared key from path: the file's bytes without
// trailing newline or blanks (so `echo KEY > file` and a generated file
// give the same key). It refuses anything but a regular file, an empty
// key, and a file over 4 KiB. A key in a file, unlike one on the command
// line, is not in the process list.
func ReadKeyFile(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO named by mistake must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("key file %s: larger than %d bytes", path, maxKeyFile)
	}
	b = bytes.TrimRight(b, "\r\n\t ")
	if len(b) == 0 {
		return nil, fmt.Errorf("key file %s: empty key", path)
	}
	return b, nil
}

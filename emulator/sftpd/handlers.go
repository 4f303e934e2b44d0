package sftpd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/pkg/sftp"
)

// home serves one merchant's SFTP session: every path is resolved inside its os.Root.
type home struct {
	s    *Server
	m    *og.Merchant
	root *os.Root

	mu      sync.Mutex
	uploads int // open for writing now
}

// MaxOpenUploads bounds the files one session writes at once.
const MaxOpenUploads = 64

// fixed reports whether a path is one of the home's fixed folders, which stay.
func fixed(name string) bool { return name == "incoming" || name == "outgoing" }

// hidden reports whether a name belongs to the server (an upload in progress).
func hidden(name string) bool { return strings.HasPrefix(path.Base(name), uploadPrefix) }

// mapErr turns a file system error into the SFTP status a client understands. An attempt to
// leave the home (os.Root's "path escapes from parent") is a permission error.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return sftp.ErrSSHFxNoSuchFile
	case errors.Is(err, fs.ErrPermission), strings.Contains(err.Error(), "escapes"):
		return sftp.ErrSSHFxPermissionDenied
	}
	return err
}

var errDenied = sftp.ErrSSHFxPermissionDenied

// Fileread opens a file for download (outgoing/ holds batch order files and feed reports).
func (h *home) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	name := rel(r.Filepath)
	if name == "." || hidden(name) {
		return nil, sftp.ErrSSHFxNoSuchFile
	}
	f, err := h.root.Open(name)
	if err != nil {
		return nil, mapErr(err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, sftp.ErrSSHFxFailure
	}
	h.s.record(h.m.ID, og.DirectionOut, "downloaded "+name, nil)
	return f, nil
}

// Filewrite starts an upload into a temporary file beside its target. An open without
// truncation (a resumed upload) starts from the target's current content.
func (h *home) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	name := rel(r.Filepath)
	if name == "." || hidden(name) || fixed(name) {
		return nil, errDenied
	}
	if st, err := h.root.Stat(name); err == nil && st.IsDir() {
		return nil, sftp.ErrSSHFxFailure
	}
	h.mu.Lock()
	if h.uploads >= MaxOpenUploads {
		h.mu.Unlock()
		return nil, fmt.Errorf("%d files are open for writing in this session: close one first", MaxOpenUploads)
	}
	h.uploads++
	h.mu.Unlock()
	flags := r.Pflags()
	u, err := h.startUpload(name, !flags.Trunc)
	if err == nil && flags.Append {
		u.appending, u.base, u.minOff = true, u.size, -1
	}
	if err != nil {
		h.doneUpload()
		return nil, err
	}
	return u, nil
}

func (h *home) doneUpload() {
	h.mu.Lock()
	h.uploads--
	h.mu.Unlock()
}

func (h *home) startUpload(name string, resume bool) (*upload, error) {
	tmp := path.Join(path.Dir(name), uploadPrefix+randomName())
	f, err := h.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, mapErr(err)
	}
	u := &upload{h: h, name: name, tmp: tmp, f: f, max: h.s.MaxUpload}
	if resume {
		if old, err := h.root.Open(name); err == nil {
			n, err := io.Copy(f, io.LimitReader(old, u.max+1))
			old.Close()
			if err != nil || n > u.max {
				f.Close()
				h.root.Remove(tmp)
				return nil, sftp.ErrSSHFxFailure
			}
			u.size = n
		}
	}
	return u, nil
}

// upload is a file being received. It becomes visible under its name only at Close, and only
// if the transfer completed: TransferError is how pkg/sftp says the connection dropped with
// the file open; a write that failed (a full disk, an offset past the cap) discards it too.
type upload struct {
	h      *home
	name   string
	tmp    string
	f      *os.File
	max    int64
	mu     sync.Mutex
	size   int64
	cut    error
	failed error
	tooBig bool

	// An open with SSH_FXF_APPEND writes at the end of the file whatever the offsets say, as
	// OpenSSH's server does. Clients mean one of two things by their offsets: counted from
	// where they began (pkg/sftp's O_APPEND writes from 0), or the file's own (OpenSSH's reput
	// begins at the size it found). Either way the writes are a run that begins at the
	// lowest offset written, so a write at off goes to base+off while they arrive (in any
	// order: writes are handled concurrently), and Close moves the run down to base when the
	// lowest offset was not 0.
	appending      bool
	base           int64 // the file's size at the open
	minOff, maxEnd int64 // the run the client wrote, in its offsets (minOff -1: none yet)
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	at, over := off, off < 0 || int64(len(p)) > u.max-off
	if u.appending && !over {
		// The run is widened to take this write before it is made, under the lock, so that
		// concurrent writes each see the others' share of the cap.
		u.mu.Lock()
		low, end := off, max(u.maxEnd, off+int64(len(p)))
		if u.minOff >= 0 {
			low = min(low, u.minOff)
		}
		// The file as it will be: base, then the run from the lowest offset to the end.
		at, over = u.base+off, u.base+end-low > u.max
		if !over {
			u.minOff, u.maxEnd = low, end
		}
		u.mu.Unlock()
	}
	if over {
		u.mu.Lock()
		u.tooBig = true
		u.mu.Unlock()
		return 0, fmt.Errorf("the file is over the drop site's limit of %d bytes", u.max)
	}
	n, err := u.f.WriteAt(p, at)
	u.mu.Lock()
	if u.appending {
		u.size = u.base + u.maxEnd - u.minOff // the run as reserved
	} else {
		u.size = max(u.size, off+int64(n))
	}
	if err != nil && u.failed == nil {
		u.failed = err
	}
	u.mu.Unlock()
	return n, err
}

// settleAppend moves an appended run written at base+minOff down to base (see upload).
func (u *upload) settleAppend() error {
	if !u.appending || u.minOff <= 0 {
		return nil
	}
	n := u.maxEnd - u.minOff
	r := io.NewSectionReader(u.f, u.base+u.minOff, n)
	if _, err := io.Copy(io.NewOffsetWriter(u.f, u.base), r); err != nil {
		return err
	}
	return u.f.Truncate(u.base + n)
}

// TransferError marks the upload as cut short.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	u.cut = err
	u.mu.Unlock()
}

// Close publishes a complete upload under its name, durably, and hands it on; its answer
// to the client is the acknowledgement, sent once what the file caused is done. A cut,
// failed or oversized upload is removed unread.
func (u *upload) Close() error {
	defer u.h.doneUpload()
	u.mu.Lock()
	err := u.settleAppend()
	u.mu.Unlock()
	if err == nil {
		err = u.f.Sync()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	u.mu.Lock()
	cut, failed, tooBig, size := u.cut, u.failed, u.tooBig, u.size
	u.mu.Unlock()
	root := u.h.root
	switch {
	case cut != nil:
		root.Remove(u.tmp)
		u.h.s.record(u.h.m.ID, og.DirectionIn, fmt.Sprintf("upload of %s cut short after %d bytes (%v): discarded, not read", u.name, size, cut), nil)
		return nil
	case tooBig:
		root.Remove(u.tmp)
		u.h.s.record(u.h.m.ID, og.DirectionIn, fmt.Sprintf("upload of %s refused: over the limit of %d bytes", u.name, u.max), nil)
		return fmt.Errorf("the file is over the drop site's limit of %d bytes", u.max)
	case failed != nil || err != nil:
		root.Remove(u.tmp)
		why := errors.Join(failed, err)
		u.h.s.record(u.h.m.ID, og.DirectionIn, fmt.Sprintf("upload of %s failed (%v): discarded, not read", u.name, why), nil)
		return fmt.Errorf("the upload failed and was discarded: %v", why)
	}
	if err := root.Rename(u.tmp, u.name); err != nil {
		root.Remove(u.tmp)
		return mapErr(err)
	}
	if err := syncDir(root, path.Dir(u.name)); err != nil {
		return err
	}
	return u.h.s.dropped(u.h.m, u.name, size)
}

// Filecmd performs renames, removals and directory changes inside the home.
func (h *home) Filecmd(r *sftp.Request) error {
	name := rel(r.Filepath)
	if hidden(name) {
		return errDenied
	}
	switch r.Method {
	case "Setstat":
		return nil // clients set times and modes after an upload: accepted, ignored
	case "Rename", "PosixRename":
		target := rel(r.Target)
		if name == "." || target == "." || hidden(target) || fixed(name) || fixed(target) {
			return errDenied
		}
		if err := h.root.Rename(name, target); err != nil {
			return mapErr(err)
		}
		if err := syncDir(h.root, path.Dir(target)); err != nil {
			return err
		}
		// Clients that upload under a temporary name and rename (WinSCP, lftp) deliver here.
		if st, err := h.root.Stat(target); err == nil && !st.IsDir() {
			return h.s.dropped(h.m, target, st.Size())
		}
		return nil
	case "Remove":
		if name == "." || fixed(name) {
			return errDenied
		}
		if err := h.root.Remove(name); err != nil {
			return mapErr(err)
		}
		h.s.record(h.m.ID, og.DirectionIn, "deleted "+name, nil)
		return nil
	case "Mkdir":
		return mapErr(h.root.Mkdir(name, 0o755))
	case "Rmdir":
		if name == "." || fixed(name) {
			return errDenied
		}
		return mapErr(h.root.Remove(name))
	case "Symlink", "Link":
		return errDenied // a link could point out of the home
	}
	return sftp.ErrSSHFxOpUnsupported
}

// Filelist lists directories and stats files.
func (h *home) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		entries, err := fs.ReadDir(h.root.FS(), name)
		if err != nil {
			return nil, mapErr(err)
		}
		var infos []os.FileInfo
		for _, e := range entries {
			if hidden(e.Name()) {
				continue
			}
			if info, err := e.Info(); err == nil {
				infos = append(infos, info)
			}
		}
		return listing(infos), nil
	case "Stat", "Lstat":
		if hidden(name) {
			return nil, sftp.ErrSSHFxNoSuchFile
		}
		st, err := h.root.Stat(name)
		if err != nil {
			return nil, mapErr(err)
		}
		return listing{st}, nil
	case "Readlink":
		return nil, errDenied
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// listing is a directory listing for pkg/sftp.
type listing []os.FileInfo

func (l listing) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

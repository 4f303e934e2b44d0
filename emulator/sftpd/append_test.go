package sftpd

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Appends written concurrently (pkg/sftp hands a handle's writes to several workers) each
// count the others' share of the upload cap: together they never make a file over it without
// the upload being refused.
func TestConcurrentAppendsKeepToTheCap(t *testing.T) {
	dir := t.TempDir()
	for i := range 500 {
		f, err := os.Create(filepath.Join(dir, "x"))
		if err != nil {
			t.Fatal(err)
		}
		u := &upload{f: f, max: 16, appending: true, base: 10, size: 10, minOff: -1}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; u.WriteAt([]byte("abc"), 0) })
		wg.Go(func() { <-start; u.WriteAt([]byte("defghi"), 3) })
		close(start)
		wg.Wait()
		f.Close()
		if !u.tooBig && u.size > u.max {
			t.Fatalf("run %d: a %d-byte file, over the cap of %d, was not refused", i, u.size, u.max)
		}
	}
}

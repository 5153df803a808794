package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// With -pprof the operator is built with one more file in its main package, through
// `go build -overlay`, so the repository is not touched: a profiling endpoint on the address in
// pprofEnv, with net/http/pprof's handlers (heap profiles) and a CPU profile that the benchmark
// starts and stops around each measurement. Without -pprof the operator is built as shipped.

const pprofEnv = "SEATKEEPER_BENCH_PPROF"

// pprofFile is the overlay's file name in the module root; it does not exist on disk.
const pprofFile = "zz_bench_pprof.go"

const pprofSource = `package main

// Added by test/bench -pprof at build time through go build -overlay; not part of the operator.

import (
	"bytes"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/pprof"
	"sync"
)

func init() {
	addr := os.Getenv("` + pprofEnv + `")
	if addr == "" {
		return
	}
	var mu sync.Mutex
	var buf *bytes.Buffer
	http.HandleFunc("/bench/cpu/start", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if buf != nil {
			http.Error(w, "already profiling", http.StatusConflict)
			return
		}
		buf = &bytes.Buffer{}
		if err := pprof.StartCPUProfile(buf); err != nil {
			buf = nil
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	http.HandleFunc("/bench/cpu/stop", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if buf == nil {
			http.Error(w, "not profiling", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		_, _ = w.Write(buf.Bytes())
		buf = nil
	})
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
`

// writePprofOverlay writes the source and the overlay file that adds it to the module root's
// main package, and returns the overlay file's path.
func writePprofOverlay(root, work string) (string, error) {
	src := filepath.Join(work, pprofFile)
	if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
		return "", err
	}
	data, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(root, pprofFile): src}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(work, "overlay.json")
	return overlay, os.WriteFile(overlay, data, 0o644)
}

// startCPUProfile starts profiling the operator's CPU; a no-op without -pprof.
func (o *operator) startCPUProfile(ctx context.Context) error {
	if o.pprofURL == "" {
		return nil
	}
	_, err := o.pprofGet(ctx, "/bench/cpu/start")
	return err
}

// stopCPUProfile stops the profile and writes it to path.
func (o *operator) stopCPUProfile(ctx context.Context, path string) error {
	if o.pprofURL == "" {
		return nil
	}
	data, err := o.pprofGet(ctx, "/bench/cpu/stop")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// writeHeapProfile writes the operator's heap profile (after a GC) to path.
func (o *operator) writeHeapProfile(ctx context.Context, path string) error {
	if o.pprofURL == "" {
		return nil
	}
	data, err := o.pprofGet(ctx, "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func (o *operator) pprofGet(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.pprofURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("operator pprof %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("operator pprof %s: %s: %s", path, resp.Status, data)
	}
	return data, nil
}

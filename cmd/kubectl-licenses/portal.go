package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	"github.com/seatkeeper/seatkeeper/internal/portal"
)

const portalLong = `Serve the licence portal on this machine, for your browser: the web pages of a customer
account (licences, named seats with their toggles, shared sessions with "End session", the
session log with CSV export, and orders for partners). Every page reads and acts with your
kubeconfig's credentials and context, so it shows and allows exactly what kubectl allows you.

The portal listens on 127.0.0.1 only, on a free port unless --port is given. The address it
prints carries a secret token, new at every start: only a browser that opened that address can
use the portal (not other users of this machine, and not other web pages you visit). It runs
until Ctrl-C.`

const portalExample = `  # Open the portal in your browser
  kubectl licenses portal --open

  # On a fixed port, in another context
  kubectl licenses portal --port 8765 --context prod`

func (a *app) portalCommand() *cobra.Command {
	var port int
	var open bool
	cmd := &cobra.Command{
		Use:     "portal [--port PORT] [--open]",
		Short:   "Serve the licence portal to your browser, with your own rights",
		Long:    portalLong,
		Example: portalExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d is not a port: give 1-65535, or 0 for a free one", port)
			}
			return a.portal(cmd.Context(), port, open)
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "Port on 127.0.0.1 to listen on (0: a free one)")
	cmd.Flags().BoolVar(&open, "open", false, "Open the portal in the default browser")
	return cmd
}

// portal serves the portal until ctx ends.
func (a *app) portal(ctx context.Context, port int, open bool) error {
	cfg, namespace, err := restConfig(&a.kube)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	auth, err := portal.NewLocal(cfg, port)
	if err != nil {
		return err
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(a.stderr, prefix, args) }, funcr.Options{})
	srv, err := portal.New(portal.Options{Auth: auth, DefaultNamespace: namespace, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Licence portal: %s\nIt acts as your kubeconfig's user (context %q). Press Ctrl-C to stop it.\n",
		auth.URL(), contextName(a))
	if open {
		launcher, remove, err := portal.LaunchPage(auth.URL())
		if err == nil {
			defer remove()
			err = openBrowser(launcher)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "could not open a browser (%v): open the address above yourself\n", err)
		} else {
			// A browser packaged as a snap has a /tmp of its own and cannot read the file.
			fmt.Fprintln(a.stdout, "Opening your browser; if it shows no portal (\"file not found\"), open the address above.")
		}
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		// Live pages hold a stream open: give requests a moment, then close.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the portal: %w", err)
	}
	<-stopped
	return nil
}

// contextName is the kubeconfig context in use, for the start-up line.
func contextName(a *app) string {
	if a.kube.overrides.CurrentContext != "" {
		return a.kube.overrides.CurrentContext
	}
	raw, err := portalLoadingRules(a).Load()
	if err != nil {
		return ""
	}
	return raw.CurrentContext
}

// openBrowser opens url in the user's default browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

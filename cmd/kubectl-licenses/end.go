package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// terminatePatch ends a session: the operator sees spec.terminate and ends it with endReason
// Terminated, keeping the record. A merge patch of this one field races with nobody: the holder
// writes state, peer and its heartbeat, which the patch leaves alone, and terminate cannot be
// undone (a CEL rule), so no optimistic lock is needed.
var terminatePatch = client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))

const endLong = `Force-end shared sessions, freeing their licences for the next in the queue: the plugin sets
spec.terminate on each session and the operator ends it at once with endReason Terminated. The
session stays, Ended, as the record. Prints one line per session; exits non-zero if any could not
be ended. A session already ended is reported and left as it is.

Needs the seatkeeper-licenses role in the namespace.`

const endExample = `  kubectl licenses end -n acme agent-3 agent-7

  # Then wait until the operator has ended it
  kubectl wait -n acme --for=jsonpath='{.status.phase}'=Ended sess/agent-3`

func (a *app) endCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "end SESSION...",
		Aliases: []string{"terminate"},
		Short:   "Force-end shared sessions",
		Long:    endLong,
		Example: endExample,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, sc, err := a.connect(false)
			if err != nil {
				return err
			}
			return a.end(cmd.Context(), c, sc, args)
		},
		ValidArgsFunction: a.completeLiveSessions,
	}
	return cmd
}

// end terminates each named session and reports one line for each: on stdout when it is ended
// or was already, on stderr when not. A refusal by RBAC is explained once, after the lines.
func (a *app) end(ctx context.Context, c client.Client, sc scope, args []string) error {
	act := action{what: "end sessions", role: roleLicenses, scope: sc}
	failed := 0
	var forbidden error
	for _, arg := range args {
		err := a.endOne(ctx, c, sc, arg)
		if err == nil {
			continue
		}
		failed++
		if apierrors.IsForbidden(err) {
			if forbidden == nil {
				forbidden = act.explain(errors.Unwrap(err))
			}
			fmt.Fprintf(a.stderr, "error: %s not ended: forbidden\n", arg)
			continue
		}
		fmt.Fprintf(a.stderr, "error: %v\n", err)
	}
	if forbidden != nil {
		fmt.Fprintf(a.stderr, "error: %v\n", forbidden)
	}
	if failed > 0 {
		return reportedError{fmt.Errorf("%d of %d sessions not ended", failed, len(args))}
	}
	return nil
}

// endOne ends one session; its errors name the session.
func (a *app) endOne(ctx context.Context, c client.Client, sc scope, arg string) error {
	name, err := sessionName(arg)
	if err != nil {
		return err
	}
	s := &v1alpha1.SharedSession{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: sc.namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("sharedsession/%s not found %s", name, sc)
		}
		return fmt.Errorf("sharedsession/%s not ended: %w", name, err)
	}
	switch {
	case s.Status.Phase == v1alpha1.SessionEnded:
		fmt.Fprintf(a.stdout, "sharedsession/%s already ended (%s)\n", name, s.Status.EndReason)
		return nil
	case s.Spec.Terminate:
		// Set before; the operator has not ended it yet.
		fmt.Fprintf(a.stdout, "sharedsession/%s terminated\n", name)
		return nil
	}
	if err := c.Patch(ctx, s, terminatePatch); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("sharedsession/%s not found %s (deleted meanwhile)", name, sc)
		}
		return fmt.Errorf("sharedsession/%s not ended: %w", name, err)
	}
	fmt.Fprintf(a.stdout, "sharedsession/%s terminated\n", name)
	return nil
}

// sessionName accepts a session's name as kubectl prints it: NAME, or TYPE/NAME with a type
// of SharedSession (sess/agent-3, sharedsession/agent-3, sharedsessions.licensing.seatkeeper.io/agent-3).
func sessionName(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		name, kind = arg, ""
	}
	switch strings.ToLower(strings.TrimSuffix(kind, "."+v1alpha1.GroupVersion.Group)) {
	case "", "sess", "sharedsession", "sharedsessions":
	default:
		return "", fmt.Errorf("%s is not a session: give a SharedSession's name", arg)
	}
	if name == "" {
		return "", fmt.Errorf("%q is not a session's name", arg)
	}
	return name, nil
}

// completeLiveSessions completes `end` with the sessions of the namespace that have not ended.
func (a *app) completeLiveSessions(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, sc, err := a.connect(false)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	sessions, err := listSessions(cmd.Context(), c, sc, "", "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []string
	for _, s := range sessions {
		if s.Status.Phase != v1alpha1.SessionEnded && !s.Spec.Terminate {
			names = append(names, s.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

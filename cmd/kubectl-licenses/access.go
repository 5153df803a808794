package main

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/seatkeeper/seatkeeper/internal/access"
)

// seatkeeper's roles (config/rbac), by privilege level.
const (
	// roleReports may read pools, seats and sessions: every listing of this plugin.
	roleReports = access.RoleReports
	// roleLicenses may change pools, seats and sessions: what `end` needs.
	roleLicenses = access.RoleLicenses
)

// action is what a command tried, for messages: "read sessions" in a scope, allowed by a role.
type action struct {
	what  string
	role  string
	scope scope
}

// explain turns an error of the API server into one a person can act on: a refusal names the
// role that would allow the action and who can grant it.
func (a action) explain(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return forbiddenError{action: a, server: err}
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server did not accept your credentials: log in again, or check --kubeconfig and --context (%w)", err)
	case meta.IsNoMatchError(err):
		return fmt.Errorf("this cluster does not serve seatkeeper's API (licensing.seatkeeper.io): is seatkeeper installed, and is this the right --context? (%w)", err)
	}
	return fmt.Errorf("%s %s: %w", a.what, a.scope, err)
}

// forbiddenError is the API server refusing the user an action.
type forbiddenError struct {
	action action
	server error
}

func (e forbiddenError) Error() string {
	a := e.action
	r := access.Refusal{What: a.what, Role: a.role, Namespace: a.scope.namespace, AllNamespaces: a.scope.all}
	return r.Message() + "\n  the API server said: " + e.server.Error()
}

func (e forbiddenError) Unwrap() error { return e.server }

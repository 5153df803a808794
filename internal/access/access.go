// Package access names seatkeeper's privilege roles (config/rbac/privilege_roles.yaml) and words
// the API server's refusals as a person can act on them: which role would allow the action and
// who can grant it. The kubectl plugin and the portal say the same.
package access

import "fmt"

// seatkeeper's roles, by privilege level.
const (
	// RoleReports may read pools, seats, sessions and orders: every report.
	RoleReports = "seatkeeper-reports"
	// RoleLicenses may change pools, seats and sessions: toggle seats, end sessions.
	RoleLicenses = "seatkeeper-licenses"
	// RoleSupervisor may bind the two roles above to others in its namespace.
	RoleSupervisor = "seatkeeper-supervisor"
	// RolePartner records orders and assigns them to customer accounts (cluster-wide).
	RolePartner = "seatkeeper-partner"
)

// Refusal is an action the API server refused: "read sessions" in a namespace, in all of them,
// or on cluster-scoped objects (orders), and the role that allows it.
type Refusal struct {
	// What is the action, as a verb phrase: "end sessions".
	What string
	// Role is the seatkeeper role that allows it.
	Role string
	// Namespace is where it was refused; empty with AllNamespaces or ClusterScoped.
	Namespace string
	// AllNamespaces: refused across all namespaces (kubectl's -A).
	AllNamespaces bool
	// ClusterScoped: the objects have no namespace (orders), so only a cluster-wide binding
	// allows the action.
	ClusterScoped bool
}

// Message is the refusal in English, without the API server's own words.
func (r Refusal) Message() string {
	switch {
	case r.ClusterScoped:
		return fmt.Sprintf("you may not %s: this needs the %s role for the whole cluster, "+
			"which a cluster administrator can bind to you", r.What, r.Role)
	case r.AllNamespaces:
		// A role in every namespace is a ClusterRoleBinding, which a namespace's supervisor
		// cannot create; but they can bind the role in their own namespace.
		return fmt.Sprintf("you may not %s in all namespaces: this needs the %s role in every namespace, "+
			"which a cluster administrator can bind to you; or name one namespace with -n, where a supervisor "+
			"of the namespace (someone with %s) can bind it to you", r.What, r.Role, RoleSupervisor)
	}
	return fmt.Sprintf("you may not %s in namespace %s: this needs the %s role "+
		"(ask a supervisor of the namespace, someone with %s, to bind it to you)",
		r.What, r.Namespace, r.Role, RoleSupervisor)
}

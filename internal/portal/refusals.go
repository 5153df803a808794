package portal

import (
	"errors"
	"net/http"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/access"
)

// What the API server answers the viewer, in words they can act on, and what it would allow them.

// failed answers a request whose viewer is unknown.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, q *req, err error) {
	switch {
	case errors.Is(err, errSignIn):
		refuse(w, r, http.StatusUnauthorized, "guard.signin")
		return
	case errors.Is(err, errNoAccount):
		refuse(w, r, http.StatusNotFound, "guard.account")
		return
	}
	s.log.Error(err, "portal request")
	http.Error(w, q.T("error.internal"), http.StatusInternalServerError)
}

// refused records the API server's answer to an action on page p, in words the viewer can act
// on; it returns whether err was a refusal (else the caller handles err).
func (q *req) refused(p *page, err error, what access.Refusal) bool {
	switch {
	case apierrors.IsForbidden(err):
		p.Refusals = append(p.Refusals, q.refusal(what))
		if p.status == 0 {
			p.status = http.StatusForbidden
		}
		return true
	case apierrors.IsUnauthorized(err):
		p.Problems = append(p.Problems, q.T("error.unauthorized"))
		p.status = http.StatusUnauthorized
		return true
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err) && isMissingAPI(err):
		p.Problems = append(p.Problems, q.T("error.noapi"))
		p.status = http.StatusBadGateway
		return true
	}
	return false
}

// readFailed puts a failed read on page p: a refusal as the role that allows it, else the error.
func (q *req) readFailed(p *page, err error, what access.Refusal) {
	if !q.refused(p, err, what) {
		q.problem(p, err)
	}
}

// reading is the refusal of reading what (licence pools, seats, sessions) in account ns.
func reading(what, ns string) access.Refusal {
	return access.Refusal{What: "read " + what, Role: access.RoleReports, Namespace: ns}
}

// changing is the refusal of a change (change seats, end sessions) in account ns.
func changing(what, ns string) access.Refusal {
	return access.Refusal{What: what, Role: access.RoleLicenses, Namespace: ns}
}

// ordering is the refusal of an action on orders (cluster-scoped: a partner's).
func ordering(what string) access.Refusal {
	return access.Refusal{What: what, Role: access.RolePartner, ClusterScoped: true}
}

// problem records an error that is no refusal.
func (q *req) problem(p *page, err error) {
	p.Problems = append(p.Problems, q.T("error.api", err.Error()))
	if p.status == 0 {
		p.status = http.StatusBadGateway
	}
}

// isMissingAPI tells a 404 for the whole resource (seatkeeper not installed) from one object's.
func isMissingAPI(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s) && s.Status().Details != nil && s.Status().Details.Name == ""
}

// refusal words a refusal in the viewer's language; in English it is the plugin's sentence.
func (q *req) refusal(r access.Refusal) string {
	what := q.T("action." + r.What)
	if q.lang == "en" {
		r.What = what
		return r.Message()
	}
	// The portal works in one account at a time, or on orders: never "all namespaces".
	if r.ClusterScoped {
		return q.T("refusal.cluster", what, r.Role)
	}
	return q.T("refusal.namespace", what, r.Namespace, r.Role, access.RoleSupervisor)
}

// can asks the API server whether the viewer may do verb on resource in namespace ns ("" for
// cluster-scoped kinds): the pages show only the buttons the viewer can use. Any failure is a no.
func (q *req) can(verb, resource, ns string) bool {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Group: v1alpha1.GroupVersion.Group, Resource: resource,
		},
	}}
	if resource == "namespaces" {
		review.Spec.ResourceAttributes.Group = ""
	}
	if err := q.v.Client.Create(q.ctx, review); err != nil {
		return false
	}
	return review.Status.Allowed
}

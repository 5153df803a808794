package portal

import (
	"strings"
	"testing"

	"github.com/seatkeeper/seatkeeper/internal/access"
)

func TestRefusal(t *testing.T) {
	inNamespace := access.Refusal{What: "end sessions", Role: access.RoleLicenses, Namespace: "acme"}
	const english = "you may not end sessions in namespace acme: this needs the seatkeeper-licenses role " +
		"(ask a supervisor of the namespace, someone with seatkeeper-supervisor, to bind it to you)"
	if got := (&req{lang: "en"}).refusal(inNamespace); got != english {
		t.Errorf("in English:\n got %q\nwant %q", got, english)
	}
	if got := inNamespace.Message(); got != english {
		t.Errorf("the plugin's sentence changed: %q", got)
	}

	refusals := []access.Refusal{
		inNamespace,
		{What: "read sessions", Role: access.RoleReports, AllNamespaces: true},
		{What: "cancel orders", Role: access.RolePartner, ClusterScoped: true},
	}
	// In English every refusal is the plugin's sentence.
	for _, r := range refusals {
		if got, want := (&req{lang: "en"}).refusal(r), r.Message(); got != want {
			t.Errorf("in English, %+v:\n got %q\nwant %q", r, got, want)
		}
	}
	for _, lang := range []string{"fr", "it"} {
		for _, r := range refusals {
			got := (&req{lang: lang}).refusal(r)
			want := []string{r.Role, translate(lang, "action."+r.What)}
			if !r.ClusterScoped {
				want = append(want, access.RoleSupervisor)
			}
			if r.Namespace != "" {
				want = append(want, r.Namespace)
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s, %+v: %q does not contain %q", lang, r, got, w)
				}
			}
			if got == r.Message() || strings.Contains(got, "you may not") || strings.Contains(got, r.What) {
				t.Errorf("%s, %+v: %q is (partly) English", lang, r, got)
			}
			if strings.Contains(got, "%!") {
				t.Errorf("%s, %+v: %q has a formatting error", lang, r, got)
			}
		}
	}
}

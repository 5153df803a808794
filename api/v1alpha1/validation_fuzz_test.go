package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apivalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// validator checks an object the way the API server does for a create: defaults, the
// structural schema, then the CEL rules, all from the generated CRD.
type validator struct {
	structural *structuralschema.Structural
	schema     apivalidation.SchemaValidator
	cel        *cel.Validator
}

func (v *validator) accepts(obj map[string]any) bool {
	structuraldefaulting.Default(obj, v.structural)
	if errs := apivalidation.ValidateCustomResource(nil, obj, v.schema); len(errs) > 0 {
		return false
	}
	errs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return len(errs) == 0
}

var (
	loadOnce   sync.Once
	validators map[string]*validator
	loadErr    error
)

func loadValidators() (map[string]*validator, error) {
	loadOnce.Do(func() {
		validators = map[string]*validator{}
		files, _ := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				loadErr = err
				return
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.Unmarshal(raw, &crd); err != nil {
				loadErr = err
				return
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				loadErr = err
				return
			}
			s, err := structuralschema.NewStructural(&internal)
			if err != nil {
				loadErr = err
				return
			}
			sv, _, err := apivalidation.NewSchemaValidator(&internal)
			if err != nil {
				loadErr = err
				return
			}
			validators[crd.Spec.Names.Kind] = &validator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
		}
		if len(validators) != 6 {
			loadErr = fmt.Errorf("found %d CRDs in config/crd/bases, want 6", len(validators))
		}
	})
	return validators, loadErr
}

// A valid object of each kind, and the fields a mutation may set.
var kinds = []struct {
	kind   string
	base   string
	fields []string
	typed  func() any
}{
	{"LicensePool", `{"spec":{"product":"remote-support"}}`, []string{
		"spec.product", "spec.displayName", "spec.seats", "spec.concurrentSessions", "spec.expiresAt", "spec.expiryWarning",
		"spec.sessionPolicy.heartbeatTimeout", "spec.sessionPolicy.idleTimeout", "spec.sessionPolicy.maxDuration",
		"spec.sessionPolicy.whenExhausted", "spec.sessionPolicy.requireSeat", "spec.sessionPolicy.countBy",
		"spec.sessionPolicy.retainEnded", "spec.managedBy"}, func() any { return &v1alpha1.LicensePool{} }},
	{"SeatAssignment", `{"spec":{"poolName":"p","assignee":{"name":"alice"}}}`, []string{
		"spec.poolName", "spec.assignee.kind", "spec.assignee.name", "spec.enabled"}, func() any { return &v1alpha1.SeatAssignment{} }},
	{"SharedSession", `{"spec":{"poolName":"p","holder":"alice"}}`, []string{
		"spec.poolName", "spec.holder", "spec.peer", "spec.state", "spec.priority", "spec.terminate",
		"status.renewTime", "status.phase", "status.grantedAt", "status.queuePosition"}, func() any { return &v1alpha1.SharedSession{} }},
	{"CustomerOrder", `{"spec":{"items":[{"product":"remote-support","seats":1}]}}`, []string{
		"spec.customer", "spec.startsAt", "spec.expiresAt", "spec.cancelled",
		"spec.items.0.product", "spec.items.0.poolName", "spec.items.0.seats", "spec.items.0.concurrentSessions"}, func() any { return &v1alpha1.CustomerOrder{} }},
	{"LicenseCheckParameters", `{"spec":{"poolName":"p"}}`, []string{
		"spec.poolName", "spec.licensesPerPod"}, func() any { return &v1alpha1.LicenseCheckParameters{} }},
}

// Values that have broken decoders before, or sit on a boundary.
var values = []any{
	"", "a", "p", "remote-support", "Remote_Support", strings.Repeat("x", 300), "é",
	"1d", "2w", "5s", "4s", "0s", "-5s", "5 s", "1h30m", ".5s", "1.5h", "99999h", "999999h", "2562048h", "1e3s", "5S", "300ms", "1µs", "1us",
	"2026-11-23T12:00:00Z", "2026-11-23T12:00:00.000000Z", "2026-11-23T12:00:00.123Z", "2026-11-23", "2026-11-23T12:00:00+01:00", "not a time",
	"Idle", "Connected", "Queue", "Reject", "Session", "Holder", "User", "Device", "Active", "Ended",
	-1, 0, 1, 5, 1000000, 1000001, 2147483647, 2147483648, -2147483649, 1.5, true, false, nil,
	map[string]any{}, []any{},
}

func set(obj map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	var cur any = obj
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return
			}
			if _, ok := c[p]; !ok {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			var idx int
			fmt.Sscan(p, &idx)
			if idx >= len(c) {
				return
			}
			if last {
				c[idx] = v
				return
			}
			cur = c[idx]
		default:
			return
		}
	}
}

// checkAcceptedDecodes applies mutations chosen by data to a valid object of some kind; if the
// API server's validation would accept the result, the typed Go client must decode it, or the
// operator's cache would choke on an object users can write.
func checkAcceptedDecodes(t *testing.T, data []byte) {
	vs, err := loadValidators()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return
	}
	k := kinds[int(data[0])%len(kinds)]
	obj := map[string]any{}
	if err := json.Unmarshal([]byte(k.base), &obj); err != nil {
		t.Fatal(err)
	}
	obj["apiVersion"], obj["kind"] = v1alpha1.GroupVersion.String(), k.kind
	obj["metadata"] = map[string]any{"name": "x", "namespace": "ns"}
	for i := 1; i+1 < len(data); i += 2 {
		set(obj, k.fields[int(data[i])%len(k.fields)], values[int(data[i+1])%len(values)])
	}
	if !vs[k.kind].accepts(obj) {
		return
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, k.typed()); err != nil {
		t.Errorf("the API server would accept this %s, but Go cannot decode it: %v\n%s", k.kind, err, raw)
	}
}

// TestAcceptedObjectsDecode runs the property over every single mutation and a sample of pairs.
func TestAcceptedObjectsDecode(t *testing.T) {
	for ki, k := range kinds {
		for fi := range k.fields {
			for vi := range values {
				checkAcceptedDecodes(t, []byte{byte(ki), byte(fi), byte(vi)})
			}
		}
	}
}

// FuzzAcceptedObjectsDecode searches for more. `make test` runs it briefly.
func FuzzAcceptedObjectsDecode(f *testing.F) {
	f.Add([]byte{0, 6, 7})
	f.Add([]byte{2, 6, 27})
	f.Add([]byte{3, 1, 20, 2, 21})
	f.Fuzz(checkAcceptedDecodes)
}

package stix

import (
	"fmt"
	"strings"
)

// BundleOptions tune ValidateBundle.
type BundleOptions struct {
	Options
	// AllowVersions accepts several versions of one object (same id,
	// different modified) in a bundle, as STIX permits; only exact
	// duplicates (same id and modified) are then rejected. By default any
	// repeated id is rejected.
	AllowVersions bool
}

// ObjectResult is the validation outcome for one object of a bundle, in the
// shape of a TAXII per-object status.
type ObjectResult struct {
	Index    int
	ID       string
	Version  string // the modified (or created) timestamp, as TAXII reports it
	Object   *Object
	Errors   []*ValidationError
	Warnings []*ValidationError
}

// OK reports whether the object is acceptable.
func (r ObjectResult) OK() bool { return len(r.Errors) == 0 }

// Err returns the errors as ValidationErrors, or nil.
func (r ObjectResult) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return ValidationErrors(r.Errors)
}

// BundleResult is the outcome of ValidateBundle.
type BundleResult struct {
	// BundleErrors are problems with the bundle itself (its id or type);
	// they do not reject the objects.
	BundleErrors []*ValidationError
	Objects      []ObjectResult
}

// Accepted returns the objects without errors, in bundle order.
func (r *BundleResult) Accepted() []*Object {
	var out []*Object
	for _, o := range r.Objects {
		if o.OK() {
			out = append(out, o.Object)
		}
	}
	return out
}

// Rejected returns the results of the objects with errors.
func (r *BundleResult) Rejected() []ObjectResult {
	var out []ObjectResult
	for _, o := range r.Objects {
		if !o.OK() {
			out = append(out, o)
		}
	}
	return out
}

// ValidateBundle validates every object of b (see Check) and the rules that
// span objects: duplicate ids are rejected (every occurrence), and marking
// references must name a TLP marking, a marking-definition in the same
// bundle, or one accepted by opts.KnownMarking. opts may be nil.
func ValidateBundle(b *Bundle, opts *BundleOptions) *BundleResult {
	var o BundleOptions
	if opts != nil {
		o = *opts
	}
	res := &BundleResult{}
	bundleErr := func(prop, format string, args ...any) {
		res.BundleErrors = append(res.BundleErrors, &ValidationError{ObjectID: b.ID, Property: prop, Reason: fmt.Sprintf(format, args...)})
	}
	if b.ID == "" {
		bundleErr("id", "required property missing")
	} else if typ, _, err := ParseID(b.ID); err != nil {
		bundleErr("id", "%v", err)
	} else if typ != "bundle" {
		bundleErr("id", "identifier type %q must be \"bundle\"", typ)
	}

	inBundle := map[string]bool{}
	idCount := map[string]int{}
	verCount := map[string]int{}
	for _, obj := range b.Objects {
		if obj.Type == "marking-definition" && obj.ID != "" {
			inBundle[obj.ID] = true
		}
		idCount[obj.ID]++
		verCount[obj.ID+"\x00"+version(obj)]++
	}
	known := func(id string) bool {
		return inBundle[id] || (o.KnownMarking != nil && o.KnownMarking(id))
	}
	objOpts := o.Options
	objOpts.KnownMarking = nil
	for i, obj := range b.Objects {
		r := Check(obj, &objOpts)
		or := ObjectResult{Index: i, ID: obj.ID, Version: version(obj), Object: obj, Errors: r.Errors, Warnings: r.Warnings}
		add := func(prop, format string, args ...any) {
			or.Errors = append(or.Errors, &ValidationError{ObjectID: obj.ID, Property: prop, Reason: fmt.Sprintf(format, args...)})
		}
		if obj.ID != "" {
			if o.AllowVersions {
				if verCount[obj.ID+"\x00"+or.Version] > 1 {
					add("id", "duplicate object (same id and modified) in bundle")
				}
			} else if idCount[obj.ID] > 1 {
				or.Errors = append(or.Errors, DuplicateID(obj.ID, idCount[obj.ID]))
			}
		}
		for _, ref := range UnknownMarkingRefs(obj, known) {
			prop := "object_marking_refs"
			if !containsStr(obj.ObjectMarkingRefs, ref) {
				prop = "granular_markings"
			}
			add(prop, "unknown marking definition %s (neither TLP nor defined in this bundle)", ref)
		}
		res.Objects = append(res.Objects, or)
	}
	return res
}

// DuplicateID is the error ValidateBundle gives each of the n objects of a
// bundle that share id. It is exported so that a client sending one bundle
// in several requests (kurier import) rejects them in the same words.
func DuplicateID(id string, n int) *ValidationError {
	return &ValidationError{ObjectID: id, Property: "id", Reason: fmt.Sprintf("duplicate id in bundle (%d objects share it)", n)}
}

// Version is the version TAXII reports for o: its modified timestamp, or
// created for an object without one.
func (o *Object) Version() string { return version(o) }

func version(o *Object) string {
	if !o.Modified.IsZero() {
		return o.Modified.String()
	}
	return o.Created.String()
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

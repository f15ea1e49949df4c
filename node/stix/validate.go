package stix

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/kurier/kurier/node/stix/pattern"
)

// ValidationError is one problem with one property of one object.
type ValidationError struct {
	ObjectID string // the object's id ("" if it has none)
	Property string // top-level property name, possibly with a sub-path ("granular_markings[0].selectors"); "" for the object as a whole
	Reason   string
}

func (e *ValidationError) Error() string {
	s := "stix: "
	if e.ObjectID != "" {
		s += e.ObjectID + ": "
	}
	if e.Property != "" {
		s += e.Property + ": "
	}
	return s + e.Reason
}

// ValidationErrors is a list of problems; it is an error (errors.As finds
// the individual *ValidationError values).
type ValidationErrors []*ValidationError

func (v ValidationErrors) Error() string {
	switch len(v) {
	case 0:
		return "stix: no errors"
	case 1:
		return v[0].Error()
	}
	var b strings.Builder
	b.WriteString(v[0].Error())
	fmt.Fprintf(&b, " (and %d more)", len(v)-1)
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is/As.
func (v ValidationErrors) Unwrap() []error {
	out := make([]error, len(v))
	for i, e := range v {
		out[i] = e
	}
	return out
}

// Options tune validation.
type Options struct {
	// StrictUUIDVersion turns "SHOULD use UUIDv4" (SDOs, SROs, markings)
	// and "SHOULD use UUIDv4 or v5" (SCOs) into errors.
	StrictUUIDVersion bool
	// StrictSCOIDs rejects SCOs whose id differs from the deterministic id
	// (the spec only says SHOULD).
	StrictSCOIDs bool
	// KnownMarking, if set, makes Check report marking references that are
	// neither TLP nor accepted by it.
	KnownMarking func(id string) bool
}

// CheckResult is the outcome of checking one object: errors (MUST violations, the
// object is to be rejected) and warnings (SHOULD violations).
type CheckResult struct {
	Errors   []*ValidationError
	Warnings []*ValidationError
}

// OK reports whether there are no errors.
func (r CheckResult) OK() bool { return len(r.Errors) == 0 }

// Err returns the errors as ValidationErrors, or nil.
func (r CheckResult) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return ValidationErrors(r.Errors)
}

// Validate checks o against the STIX 2.1 specification with default options
// and returns nil or ValidationErrors (each a *ValidationError).
func Validate(o *Object) error { return Check(o, nil).Err() }

// object classes
type class int

const (
	classUnknown class = iota
	classSDO
	classSRO
	classSCO
	classMarking
	classMeta // language-content, extension-definition
)

var sdoTypes = []string{"attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
	"indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note",
	"observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability"}

var scoTypes = []string{"artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
	"file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
	"user-account", "windows-registry-key", "x509-certificate"}

func classOf(typ string) class {
	switch {
	case slices.Contains(sdoTypes, typ):
		return classSDO
	case typ == "relationship" || typ == "sighting":
		return classSRO
	case slices.Contains(scoTypes, typ):
		return classSCO
	case typ == "marking-definition":
		return classMarking
	case typ == "language-content" || typ == "extension-definition":
		return classMeta
	}
	return classUnknown
}

// IsSDO, IsSRO and IsSCO classify specification object types.
func IsSDO(typ string) bool { return classOf(typ) == classSDO }

// IsSRO reports whether typ is relationship or sighting.
func IsSRO(typ string) bool { return classOf(typ) == classSRO }

// IsSCO reports whether typ is a specification cyber-observable type.
func IsSCO(typ string) bool { return classOf(typ) == classSCO }

type kind int

const (
	kString kind = iota + 1
	kTimestamp
	kRef
	kRefs
	kStrings
	kBool
	kInt
	kFloat
	kDict
	kList
	kHashes
	kKillChain
	kHex
	kBinary
)

// Reference target sets beyond concrete type names.
const (
	anySDO = "<SDO>"
	anySCO = "<SCO>"
	anyObj = "<any>"
)

type prop struct {
	name     string
	kind     kind
	required bool
	refs     []string // allowed target types for kRef/kRefs
	min, max float64  // numeric bounds when max > min
}

func p(name string, k kind) prop              { return prop{name: name, kind: k} }
func req(name string, k kind) prop            { return prop{name: name, kind: k, required: true} }
func ref(name string, targets ...string) prop { return prop{name: name, kind: kRef, refs: targets} }
func refs(name string, targets ...string) prop {
	return prop{name: name, kind: kRefs, refs: targets}
}
func num(name string, k kind, min, max float64) prop {
	return prop{name: name, kind: k, min: min, max: max}
}
func required(pr prop) prop { pr.required = true; return pr }

var sdoCommon = []prop{
	req("type", kString), req("spec_version", kString), req("id", kString),
	ref("created_by_ref", "identity"), req("created", kTimestamp), req("modified", kTimestamp),
	p("revoked", kBool), p("labels", kStrings), num("confidence", kInt, 0, 100), p("lang", kString),
	p("external_references", kList), refs("object_marking_refs", "marking-definition"),
	p("granular_markings", kList), p("extensions", kDict),
}

var scoCommon = []prop{
	req("type", kString), p("spec_version", kString), req("id", kString),
	refs("object_marking_refs", "marking-definition"), p("granular_markings", kList),
	p("defanged", kBool), p("extensions", kDict),
}

var markingCommon = []prop{
	req("type", kString), req("spec_version", kString), req("id", kString),
	ref("created_by_ref", "identity"), req("created", kTimestamp),
	p("external_references", kList), refs("object_marking_refs", "marking-definition"),
	p("granular_markings", kList), p("name", kString), p("definition_type", kString),
	p("definition", kDict), p("extensions", kDict),
}

var typeProps = map[string][]prop{
	"attack-pattern":   {req("name", kString), p("description", kString), p("aliases", kStrings), p("kill_chain_phases", kKillChain)},
	"campaign":         {req("name", kString), p("description", kString), p("aliases", kStrings), p("first_seen", kTimestamp), p("last_seen", kTimestamp), p("objective", kString)},
	"course-of-action": {req("name", kString), p("description", kString)},
	"grouping":         {p("name", kString), p("description", kString), req("context", kString), required(refs("object_refs", anyObj))},
	"identity":         {req("name", kString), p("description", kString), p("roles", kStrings), p("identity_class", kString), p("sectors", kStrings), p("contact_information", kString)},
	"incident":         {req("name", kString), p("description", kString), p("kill_chain_phases", kKillChain)},
	"indicator": {p("name", kString), p("description", kString), p("indicator_types", kStrings), req("pattern", kString),
		req("pattern_type", kString), p("pattern_version", kString), req("valid_from", kTimestamp), p("valid_until", kTimestamp), p("kill_chain_phases", kKillChain)},
	"infrastructure": {req("name", kString), p("description", kString), p("infrastructure_types", kStrings), p("aliases", kStrings),
		p("kill_chain_phases", kKillChain), p("first_seen", kTimestamp), p("last_seen", kTimestamp)},
	"intrusion-set": {req("name", kString), p("description", kString), p("aliases", kStrings), p("first_seen", kTimestamp), p("last_seen", kTimestamp),
		p("goals", kStrings), p("resource_level", kString), p("primary_motivation", kString), p("secondary_motivations", kStrings)},
	"location": {p("name", kString), p("description", kString), num("latitude", kFloat, -90, 90), num("longitude", kFloat, -180, 180),
		num("precision", kFloat, 0, math.MaxFloat64), p("region", kString), p("country", kString), p("administrative_area", kString),
		p("city", kString), p("street_address", kString), p("postal_code", kString)},
	"malware": {p("name", kString), p("description", kString), p("malware_types", kStrings), req("is_family", kBool), p("aliases", kStrings),
		p("kill_chain_phases", kKillChain), p("first_seen", kTimestamp), p("last_seen", kTimestamp), refs("operating_system_refs", "software"),
		p("architecture_execution_envs", kStrings), p("implementation_languages", kStrings), p("capabilities", kStrings), refs("sample_refs", "file", "artifact")},
	"malware-analysis": {req("product", kString), p("version", kString), ref("host_vm_ref", "software"), ref("operating_system_ref", "software"),
		refs("installed_software_refs", "software"), p("configuration_version", kString), p("modules", kStrings), p("analysis_engine_version", kString),
		p("analysis_definition_version", kString), p("submitted", kTimestamp), p("analysis_started", kTimestamp), p("analysis_ended", kTimestamp),
		p("result_name", kString), p("result", kString), refs("analysis_sco_refs", anySCO), ref("sample_ref", "file", "network-traffic", "artifact")},
	"note":          {p("abstract", kString), req("content", kString), p("authors", kStrings), required(refs("object_refs", anyObj))},
	"observed-data": {req("first_observed", kTimestamp), req("last_observed", kTimestamp), required(num("number_observed", kInt, 1, 999999999)), p("objects", kDict), refs("object_refs", anySCO, "relationship")},
	"opinion":       {p("explanation", kString), p("authors", kStrings), req("opinion", kString), required(refs("object_refs", anyObj))},
	"report":        {req("name", kString), p("description", kString), p("report_types", kStrings), req("published", kTimestamp), required(refs("object_refs", anyObj))},
	"threat-actor": {req("name", kString), p("description", kString), p("threat_actor_types", kStrings), p("aliases", kStrings), p("first_seen", kTimestamp),
		p("last_seen", kTimestamp), p("roles", kStrings), p("goals", kStrings), p("sophistication", kString), p("resource_level", kString),
		p("primary_motivation", kString), p("secondary_motivations", kStrings), p("personal_motivations", kStrings)},
	"tool":          {req("name", kString), p("description", kString), p("tool_types", kStrings), p("aliases", kStrings), p("kill_chain_phases", kKillChain), p("tool_version", kString)},
	"vulnerability": {req("name", kString), p("description", kString)},
	"relationship": {req("relationship_type", kString), p("description", kString), required(ref("source_ref", anySDO, anySCO)),
		required(ref("target_ref", anySDO, anySCO)), p("start_time", kTimestamp), p("stop_time", kTimestamp)},
	"sighting": {p("description", kString), p("first_seen", kTimestamp), p("last_seen", kTimestamp), num("count", kInt, 0, 999999999),
		required(ref("sighting_of_ref", anySDO)), refs("observed_data_refs", "observed-data"), refs("where_sighted_refs", "identity", "location"), p("summary", kBool)},

	"artifact":          {p("mime_type", kString), p("payload_bin", kBinary), p("url", kString), p("hashes", kHashes), p("encryption_algorithm", kString), p("decryption_key", kString)},
	"autonomous-system": {required(num("number", kInt, 0, math.MaxInt64)), p("name", kString), p("rir", kString)},
	"directory": {req("path", kString), p("path_enc", kString), p("ctime", kTimestamp), p("mtime", kTimestamp), p("atime", kTimestamp),
		refs("contains_refs", "file", "directory")},
	"domain-name": {req("value", kString), refs("resolves_to_refs", "ipv4-addr", "ipv6-addr", "domain-name")},
	"email-addr":  {req("value", kString), p("display_name", kString), ref("belongs_to_ref", "user-account")},
	"email-message": {req("is_multipart", kBool), p("date", kTimestamp), p("content_type", kString), ref("from_ref", "email-addr"), ref("sender_ref", "email-addr"),
		refs("to_refs", "email-addr"), refs("cc_refs", "email-addr"), refs("bcc_refs", "email-addr"), p("message_id", kString), p("subject", kString),
		p("received_lines", kStrings), p("additional_header_fields", kDict), p("body", kString), p("body_multipart", kList), ref("raw_email_ref", "artifact")},
	"file": {p("hashes", kHashes), num("size", kInt, 0, math.MaxInt64), p("name", kString), p("name_enc", kString), p("magic_number_hex", kHex),
		p("mime_type", kString), p("ctime", kTimestamp), p("mtime", kTimestamp), p("atime", kTimestamp), ref("parent_directory_ref", "directory"),
		refs("contains_refs", anySCO), ref("content_ref", "artifact")},
	"ipv4-addr": {req("value", kString), refs("resolves_to_refs", "mac-addr"), refs("belongs_to_refs", "autonomous-system")},
	"ipv6-addr": {req("value", kString), refs("resolves_to_refs", "mac-addr"), refs("belongs_to_refs", "autonomous-system")},
	"mac-addr":  {req("value", kString)},
	"mutex":     {req("name", kString)},
	"network-traffic": {p("start", kTimestamp), p("end", kTimestamp), p("is_active", kBool), ref("src_ref", "ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"),
		ref("dst_ref", "ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"), num("src_port", kInt, 0, 65535), num("dst_port", kInt, 0, 65535),
		req("protocols", kStrings), p("src_byte_count", kInt), p("dst_byte_count", kInt), p("src_packets", kInt), p("dst_packets", kInt),
		p("ipfix", kDict), ref("src_payload_ref", "artifact"), ref("dst_payload_ref", "artifact"), refs("encapsulates_refs", "network-traffic"),
		ref("encapsulated_by_ref", "network-traffic")},
	"process": {p("is_hidden", kBool), p("pid", kInt), p("created_time", kTimestamp), p("cwd", kString), p("command_line", kString),
		p("environment_variables", kDict), refs("opened_connection_refs", "network-traffic"), ref("creator_user_ref", "user-account"),
		ref("image_ref", "file"), ref("parent_ref", "process"), refs("child_refs", "process")},
	"software": {req("name", kString), p("cpe", kString), p("swid", kString), p("languages", kStrings), p("vendor", kString), p("version", kString)},
	"url":      {req("value", kString)},
	"user-account": {p("user_id", kString), p("credential", kString), p("account_login", kString), p("account_type", kString), p("display_name", kString),
		p("is_service_account", kBool), p("is_privileged", kBool), p("can_escalate_privs", kBool), p("is_disabled", kBool),
		p("account_created", kTimestamp), p("account_expires", kTimestamp), p("credential_last_changed", kTimestamp),
		p("account_first_login", kTimestamp), p("account_last_login", kTimestamp)},
	"windows-registry-key": {p("key", kString), p("values", kList), p("modified_time", kTimestamp), ref("creator_user_ref", "user-account"), p("number_of_subkeys", kInt)},
	"x509-certificate": {p("is_self_signed", kBool), p("hashes", kHashes), p("version", kString), p("serial_number", kString), p("signature_algorithm", kString),
		p("issuer", kString), p("validity_not_before", kTimestamp), p("validity_not_after", kTimestamp), p("subject", kString),
		p("subject_public_key_algorithm", kString), p("subject_public_key_modulus", kString), p("subject_public_key_exponent", kInt),
		p("x509_v3_extensions", kDict)},
}

var propNameRE = regexp.MustCompile(`^[a-z0-9_]{3,250}$`)
var extNameRE = regexp.MustCompile(`^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-ext$`)
var reservedProps = []string{"severity", "action", "username", "phone_numbers"}

var extensionTypes = []string{"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}

var opinionValues = []string{"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}

type checker struct {
	o    *Object
	opts Options
	r    CheckResult
}

func (c *checker) err(prop, format string, args ...any) {
	c.r.Errors = append(c.r.Errors, &ValidationError{ObjectID: c.o.ID, Property: prop, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) warn(prop, format string, args ...any) {
	c.r.Warnings = append(c.r.Warnings, &ValidationError{ObjectID: c.o.ID, Property: prop, Reason: fmt.Sprintf(format, args...)})
}

// Check validates o and returns errors and warnings. opts may be nil.
func Check(o *Object, opts *Options) CheckResult {
	c := &checker{o: o}
	if opts != nil {
		c.opts = *opts
	}
	c.run()
	return c.r
}

func (c *checker) run() {
	o := c.o
	for _, e := range o.decodeErrs {
		e2 := *e
		e2.ObjectID = o.ID
		c.r.Errors = append(c.r.Errors, &e2)
	}
	if !o.Has("type") {
		c.err("type", "required property missing")
		return
	}
	if !ValidTypeName(o.Type) {
		c.err("type", "%q is not a valid STIX type name (lower-case a-z, 0-9 and '-', 3 to 250 characters)", o.Type)
		return
	}
	if o.Type == "bundle" {
		c.err("type", "a bundle cannot be an object of a bundle")
		return
	}
	cls := classOf(o.Type)
	if cls == classUnknown {
		// Custom object: SDO-like if it has created/modified, else SCO-like.
		if o.Has("created") || o.Has("modified") {
			cls = classSDO
		} else {
			cls = classSCO
		}
	}
	var props []prop
	switch cls {
	case classSDO, classSRO:
		props = sdoCommon
	case classSCO:
		props = scoCommon
	case classMarking:
		props = markingCommon
	case classMeta:
		props = sdoCommon
	}
	props = append(slices.Clone(props), typeProps[o.Type]...)
	c.checkID(cls)
	c.checkSpecVersion(cls)
	known := map[string]bool{}
	for _, pr := range props {
		known[pr.name] = true
		c.checkProp(pr)
	}
	c.checkNames(cls)
	c.checkCommonStructures()
	if cls == classSDO || cls == classSRO || cls == classMeta {
		c.checkCreatedModified()
	}
	c.checkType()
	c.checkNumbers()
	if c.opts.KnownMarking != nil {
		for _, r := range UnknownMarkingRefs(o, c.opts.KnownMarking) {
			c.err("object_marking_refs", "unknown marking definition %s (neither TLP nor known)", r)
		}
	}
}

// checkNumbers refuses numbers the signed RFC 8785 form would change (see
// numbers.go), naming the top-level property that holds them.
func (c *checker) checkNumbers() {
	for _, k := range c.o.keys {
		for _, n := range lossyNumbers(c.o.props[k]) {
			lit := n.literal
			if len(lit) > 40 {
				lit = lit[:40] + "…"
			}
			if n.canonical == "" {
				c.err(k, "number %s is outside what RFC 8785 canonicalisation can represent (an IEEE 754 double); send it as a string", lit)
			} else {
				c.err(k, "number %s would change to %s in the RFC 8785 canonical form that is signed; send it as a string", lit, n.canonical)
			}
		}
	}
}

func (c *checker) checkID(cls class) {
	o := c.o
	if !o.Has("id") || o.ID == "" {
		if !o.Has("id") {
			c.err("id", "required property missing")
		}
		return
	}
	typ, u, err := ParseID(o.ID)
	if err != nil {
		c.err("id", "%v", err)
		return
	}
	if typ != o.Type {
		c.err("id", "identifier type %q does not match object type %q", typ, o.Type)
		return
	}
	if strings.ToLower(o.ID) != o.ID {
		c.warn("id", "UUID SHOULD be lower-case")
	}
	v := u.Version()
	report := c.warn
	if c.opts.StrictUUIDVersion {
		report = c.err
	}
	switch cls {
	case classSCO:
		if v != 4 && v != 5 {
			report("id", "SCO identifiers SHOULD use UUIDv5 (or UUIDv4), not version %d", v)
		}
		det, err := SCOID(o)
		switch {
		case err == ErrNotDeterministic:
		case err != nil:
			c.warn("id", "cannot compute deterministic id: %v", err)
		case !strings.EqualFold(det, o.ID):
			rep := c.warn
			if c.opts.StrictSCOIDs {
				rep = c.err
			}
			rep("id", "SCO identifier SHOULD be the deterministic id %s", det)
		}
	default:
		if v != 4 {
			report("id", "identifier SHOULD use UUIDv4, not version %d", v)
		}
	}
}

func (c *checker) checkSpecVersion(cls class) {
	o := c.o
	if !o.Has("spec_version") {
		return // missing-required is reported by checkProp
	}
	if o.SpecVersion != "2.1" {
		c.err("spec_version", "must be \"2.1\", got %q", o.SpecVersion)
	}
}

func (c *checker) checkNames(cls class) {
	for _, k := range c.o.keys {
		if k == "id" {
			continue
		}
		if !propNameRE.MatchString(k) {
			c.err(k, "property name must match ^[a-z0-9_]{3,250}$")
		}
		if (cls == classSDO || cls == classSCO) && slices.Contains(reservedProps, k) {
			c.err(k, "reserved property name must not be used")
		}
		if raw := c.o.props[k]; string(raw) == "null" {
			c.err(k, "must not be null")
		}
	}
}

func jsonKind(raw json.RawMessage) byte {
	if len(raw) == 0 {
		return 0
	}
	switch raw[0] {
	case '"':
		return 's'
	case '{':
		return 'o'
	case '[':
		return 'a'
	case 't', 'f':
		return 'b'
	case 'n':
		return 'n'
	}
	return 'd'
}

func (c *checker) checkProp(pr prop) {
	raw, ok := c.o.props[pr.name]
	if !ok {
		if pr.required {
			c.err(pr.name, "required property missing")
		}
		return
	}
	if string(raw) == "null" {
		return // reported by checkNames
	}
	name := pr.name
	switch pr.kind {
	case kString:
		if jsonKind(raw) != 's' {
			c.err(name, "must be a string")
		}
	case kTimestamp:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			c.err(name, "must be a timestamp string")
		} else if _, err := ParseTimestamp(s); err != nil {
			c.err(name, "%v", err)
		}
	case kRef:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			c.err(name, "must be an identifier string")
			return
		}
		c.checkRef(name, s, pr.refs)
	case kRefs:
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			c.err(name, "must be a list of identifiers")
			return
		}
		if len(list) == 0 {
			c.err(name, "must not be an empty list")
		}
		for i, s := range list {
			c.checkRef(fmt.Sprintf("%s[%d]", name, i), s, pr.refs)
		}
	case kStrings:
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			c.err(name, "must be a list of strings")
		} else if len(list) == 0 {
			c.err(name, "must not be an empty list")
		}
	case kBool:
		if jsonKind(raw) != 'b' {
			c.err(name, "must be a boolean")
		}
	case kInt, kFloat:
		var n json.Number
		if jsonKind(raw) != 'd' || json.Unmarshal(raw, &n) != nil {
			c.err(name, "must be a number")
			return
		}
		f, err := n.Float64()
		if err != nil {
			c.err(name, "number out of range")
			return
		}
		if pr.kind == kInt && f != math.Trunc(f) {
			c.err(name, "must be an integer")
			return
		}
		if pr.max > pr.min && (f < pr.min || f > pr.max) {
			if pr.max == math.MaxFloat64 || pr.max == math.MaxInt64 {
				c.err(name, "must be >= %v", pr.min)
			} else {
				c.err(name, "must be between %v and %v", pr.min, pr.max)
			}
		}
	case kDict:
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			c.err(name, "must be a dictionary")
		} else if len(m) == 0 {
			c.err(name, "must not be an empty dictionary")
		}
	case kList:
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			c.err(name, "must be a list")
		} else if len(l) == 0 {
			c.err(name, "must not be an empty list")
		}
	case kHashes:
		c.checkHashes(name, raw)
	case kKillChain:
		var l []map[string]json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			c.err(name, "must be a list of kill chain phases")
			return
		}
		if len(l) == 0 {
			c.err(name, "must not be an empty list")
		}
		for i, kc := range l {
			for _, f := range []string{"kill_chain_name", "phase_name"} {
				if jsonKind(kc[f]) != 's' {
					c.err(fmt.Sprintf("%s[%d].%s", name, i, f), "required string missing")
				}
			}
		}
	case kHex:
		var s string
		if json.Unmarshal(raw, &s) != nil || !hexRE.MatchString(s) {
			c.err(name, "must be a hex string with an even number of digits")
		}
	case kBinary:
		var s string
		if json.Unmarshal(raw, &s) != nil || !base64RE.MatchString(s) {
			c.err(name, "must be base64-encoded binary")
		}
	}
}

var hexRE = regexp.MustCompile(`^([a-fA-F0-9]{2})*$`)
var base64RE = regexp.MustCompile(`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?$`)

var hashHexLen = map[string]int{"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128}

func (c *checker) checkHashes(name string, raw json.RawMessage) {
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil {
		c.err(name, "must be a dictionary of hash algorithm to string")
		return
	}
	if len(m) == 0 {
		c.err(name, "must not be empty")
	}
	for k, v := range m {
		if len(k) > 250 || k == "" {
			c.err(name, "hash algorithm name %q must be 1 to 250 characters", k)
		}
		if n, ok := hashHexLen[k]; ok && (len(v) != n || !hexRE.MatchString(v)) {
			c.err(name+"."+k, "must be %d hex digits", n)
		}
	}
}

func (c *checker) checkRef(name, id string, targets []string) {
	typ, _, err := ParseID(id)
	if err != nil {
		c.err(name, "%v", err)
		return
	}
	if len(targets) == 0 || slices.Contains(targets, anyObj) || slices.Contains(targets, typ) {
		return
	}
	cls := classOf(typ)
	if cls == classUnknown && (slices.Contains(targets, anySDO) || slices.Contains(targets, anySCO)) {
		return // custom object type: cannot be classified
	}
	if (cls == classSDO && slices.Contains(targets, anySDO)) || (cls == classSCO && slices.Contains(targets, anySCO)) {
		return
	}
	want := make([]string, len(targets))
	for i, t := range targets {
		switch t {
		case anySDO:
			want[i] = "an SDO"
		case anySCO:
			want[i] = "an SCO"
		default:
			want[i] = t
		}
	}
	c.err(name, "must reference %s, not %s", strings.Join(want, " or "), typ)
}

func (c *checker) checkCommonStructures() {
	o := c.o
	for i, er := range o.ExternalReferences {
		if er.SourceName == "" {
			c.err(fmt.Sprintf("external_references[%d].source_name", i), "required property missing")
		}
	}
	for i, g := range o.GranularMarkings {
		pfx := fmt.Sprintf("granular_markings[%d]", i)
		if len(g.Selectors) == 0 {
			c.err(pfx+".selectors", "required, must not be empty")
		}
		switch {
		case g.MarkingRef != "" && g.Lang != "":
			c.err(pfx, "must have exactly one of marking_ref and lang")
		case g.MarkingRef == "" && g.Lang == "":
			c.err(pfx, "must have marking_ref or lang")
		case g.MarkingRef != "":
			c.checkRef(pfx+".marking_ref", g.MarkingRef, []string{"marking-definition"})
		}
	}
	if raw, ok := o.props["extensions"]; ok {
		keys, exts, err := decodeProps(raw)
		if err != nil {
			return // reported by checkProp
		}
		for _, k := range keys {
			v := exts[k]
			pn := "extensions." + k
			if strings.HasPrefix(k, "extension-definition--") {
				if t, _, err := ParseID(k); err != nil || t != "extension-definition" {
					c.err(pn, "invalid extension definition identifier")
				}
				var e struct {
					ExtensionType *string `json:"extension_type"`
				}
				if jsonKind(v) != 'o' || json.Unmarshal(v, &e) != nil {
					c.err(pn, "must be an object")
				} else if e.ExtensionType == nil {
					c.err(pn+".extension_type", "required property missing")
				} else if !slices.Contains(extensionTypes, *e.ExtensionType) {
					c.err(pn+".extension_type", "must be one of %s", strings.Join(extensionTypes, ", "))
				}
				continue
			}
			if !extNameRE.MatchString(k) {
				c.err(pn, "extension name must be an extension-definition id or end in -ext")
			}
			if jsonKind(v) != 'o' || string(v) == "{}" {
				c.err(pn, "must be a non-empty object")
			}
		}
	}
}

func (c *checker) checkCreatedModified() {
	o := c.o
	for _, f := range []struct {
		name string
		ts   Timestamp
	}{{"created", o.Created}, {"modified", o.Modified}} {
		if !f.ts.IsZero() && f.ts.Precision() < 3 {
			c.err(f.name, "must be precise to the millisecond (at least 3 fractional digits)")
		}
	}
	if !o.Created.IsZero() && !o.Modified.IsZero() && o.Modified.Compare(o.Created) < 0 {
		c.err("modified", "must be later than or equal to created")
	}
}

func (c *checker) ts(name string) (Timestamp, bool) {
	s, ok := c.o.StringProp(name)
	if !ok {
		return Timestamp{}, false
	}
	t, err := ParseTimestamp(s)
	return t, err == nil
}

// order checks later >= earlier (strict: later > earlier).
func (c *checker) order(earlier, later string, strict bool) {
	a, ok1 := c.ts(earlier)
	b, ok2 := c.ts(later)
	if !ok1 || !ok2 {
		return
	}
	cmp := b.Compare(a)
	if strict && cmp <= 0 {
		c.err(later, "must be later than %s", earlier)
	} else if !strict && cmp < 0 {
		c.err(later, "must be later than or equal to %s", earlier)
	}
}

func (c *checker) bool(name string) (bool, bool) {
	raw, ok := c.o.props[name]
	if !ok {
		return false, false
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, false
	}
	return b, true
}

func (c *checker) atLeastOne(names ...string) {
	for _, n := range names {
		if c.o.Has(n) {
			return
		}
	}
	c.err("", "at least one of %s must be present", strings.Join(names, ", "))
}

// checkType applies the type-specific constraints beyond property types.
func (c *checker) checkType() {
	o := c.o
	switch o.Type {
	case "campaign", "intrusion-set", "infrastructure", "threat-actor", "malware", "sighting":
		c.order("first_seen", "last_seen", false)
	}
	switch o.Type {
	case "indicator":
		c.order("valid_from", "valid_until", true)
		pt, _ := o.StringProp("pattern_type")
		if src, ok := o.StringProp("pattern"); ok && pt == "stix" {
			if _, err := pattern.Parse(src); err != nil {
				if se, ok := pattern.AsSyntaxError(err); ok {
					c.err("pattern", "invalid STIX pattern at offset %d (line %d, column %d): %s", se.Offset, se.Line, se.Column, se.Msg)
				} else {
					c.err("pattern", "invalid STIX pattern: %v", err)
				}
			}
		}
	case "relationship":
		c.order("start_time", "stop_time", true)
	case "observed-data":
		c.order("first_observed", "last_observed", false)
		switch {
		case o.Has("objects") && o.Has("object_refs"):
			c.err("object_refs", "must not be present together with objects")
		case !o.Has("objects") && !o.Has("object_refs"):
			c.err("object_refs", "required property missing")
		}
	case "malware":
		if fam, _ := c.bool("is_family"); fam && !o.Has("name") {
			c.err("name", "required when is_family is true")
		}
	case "malware-analysis":
		c.atLeastOne("result", "analysis_sco_refs")
		c.order("analysis_started", "analysis_ended", false)
	case "opinion":
		if v, ok := o.StringProp("opinion"); ok && !slices.Contains(opinionValues, v) {
			c.err("opinion", "must be one of %s", strings.Join(opinionValues, ", "))
		}
	case "location":
		_, lat := o.props["latitude"]
		_, lon := o.props["longitude"]
		if lat != lon {
			c.err("latitude", "latitude and longitude must be present together")
		}
		if o.Has("precision") && !(lat && lon) {
			c.err("precision", "requires latitude and longitude")
		}
		if !(lat && lon) && !o.Has("region") && !o.Has("country") {
			c.err("", "at least one of region, country, or latitude and longitude must be present")
		}
	case "marking-definition":
		c.checkMarking()
	case "artifact":
		switch {
		case o.Has("payload_bin") && o.Has("url"):
			c.err("url", "must not be present together with payload_bin")
		case o.Has("url") && !o.Has("hashes"):
			c.err("hashes", "required when url is present")
		}
	case "email-message":
		multi, _ := c.bool("is_multipart")
		if o.Has("body_multipart") && !multi {
			c.err("body_multipart", "only allowed when is_multipart is true")
		}
		if o.Has("body") && multi {
			c.err("body", "only allowed when is_multipart is false")
		}
		var parts []map[string]json.RawMessage
		if raw, ok := o.props["body_multipart"]; ok && json.Unmarshal(raw, &parts) == nil {
			for i, part := range parts {
				if r, ok := part["body_raw_ref"]; ok {
					var s string
					if json.Unmarshal(r, &s) != nil {
						c.err(fmt.Sprintf("body_multipart[%d].body_raw_ref", i), "must be an identifier")
					} else {
						c.checkRef(fmt.Sprintf("body_multipart[%d].body_raw_ref", i), s, []string{"artifact", "file"})
					}
				}
			}
		}
	case "file":
		c.atLeastOne("hashes", "name")
	case "network-traffic":
		c.atLeastOne("src_ref", "dst_ref")
		c.order("start", "end", false)
	case "mac-addr":
		if v, ok := o.StringProp("value"); ok && !macRE.MatchString(v) {
			c.err("value", "must be a lower-case, colon-delimited MAC-48 address")
		}
	case "ipv4-addr", "ipv6-addr":
		if v, ok := o.StringProp("value"); ok {
			if _, ok := normalizeIP(v, o.Type == "ipv4-addr"); !ok {
				c.err("value", "not a valid %s address or CIDR block", strings.TrimSuffix(o.Type, "-addr"))
			}
		}
	case "process", "user-account", "windows-registry-key", "x509-certificate":
		n := 0
		for _, k := range o.keys {
			if !slices.Contains([]string{"type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged"}, k) {
				n++
			}
		}
		if n == 0 {
			c.err("", "at least one type-specific property or extension must be present")
		}
	}
}

var macRE = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)

func (c *checker) checkMarking() {
	o := c.o
	if !o.Has("extensions") {
		if !o.Has("definition_type") {
			c.err("definition_type", "required when extensions is not present")
		}
		if !o.Has("definition") {
			c.err("definition", "required when extensions is not present")
		}
	}
	dt, _ := o.StringProp("definition_type")
	var def map[string]json.RawMessage
	if raw, ok := o.props["definition"]; ok {
		_ = json.Unmarshal(raw, &def)
	}
	switch dt {
	case "statement":
		if jsonKind(def["statement"]) != 's' {
			c.err("definition.statement", "required string missing")
		}
	case "tlp":
		var lvl string
		_ = json.Unmarshal(def["tlp"], &lvl)
		if !slices.Contains([]string{"white", "green", "amber", "red"}, lvl) {
			c.err("definition.tlp", "must be white, green, amber or red")
		}
		if !IsTLPMarking(o.ID) {
			c.err("id", "TLP 1.0 marking definitions must use the identifiers predefined by STIX 2.1")
		}
	}
	if t, ok := tlpByID[o.ID]; ok && o.Has("extensions") {
		var exts map[string]struct {
			TLP string `json:"tlp_2_0"`
		}
		raw := o.props["extensions"]
		if json.Unmarshal(raw, &exts) == nil {
			if e, ok := exts[TLP2ExtensionID]; ok && e.TLP != t.Short() {
				c.err("extensions", "tlp_2_0 %q does not match the TLP marking id (%s)", e.TLP, t)
			}
		}
	}
}

package stix

import (
	"encoding/json"
	"fmt"
)

// Typed is implemented by the typed views of the specification object
// types. A typed view holds the type-specific properties; the common ones
// are on Object. Typed views are read-only conveniences: the Object stays
// the lossless source of truth.
type Typed interface {
	STIXType() string
}

// As decodes o into the typed view T (e.g. As[Indicator](o)); it fails if
// o's type is not T's type or a property does not have the expected type.
func As[T any, PT interface {
	*T
	Typed
}](o *Object) (*T, error) {
	v := PT(new(T))
	if o.Type != v.STIXType() {
		return nil, fmt.Errorf("stix: %s is a %s, not a %s", o.ID, o.Type, v.STIXType())
	}
	if err := o.Decode(v); err != nil {
		return nil, fmt.Errorf("stix: %s: %w", o.ID, err)
	}
	return (*T)(v), nil
}

var typedRegistry = map[string]func() Typed{}

func register[T any, PT interface {
	*T
	Typed
}]() {
	v := PT(new(T))
	typedRegistry[v.STIXType()] = func() Typed { return PT(new(T)) }
}

// Typed returns the typed view of o (*Indicator, *IPv4Addr, …), or an error
// for custom types.
func (o *Object) Typed() (Typed, error) {
	f, ok := typedRegistry[o.Type]
	if !ok {
		return nil, fmt.Errorf("stix: no typed view for type %q", o.Type)
	}
	v := f()
	if err := o.Decode(v); err != nil {
		return nil, fmt.Errorf("stix: %s: %w", o.ID, err)
	}
	return v, nil
}

// Dictionary is a STIX dictionary kept as raw JSON values.
type Dictionary map[string]json.RawMessage

// Hashes maps hash algorithm names to values.
type Hashes map[string]string

// ---- SDOs ----

// AttackPattern is the attack-pattern SDO.
type AttackPattern struct {
	Name            string           `json:"name"`
	Description     string           `json:"description,omitempty"`
	Aliases         []string         `json:"aliases,omitempty"`
	KillChainPhases []KillChainPhase `json:"kill_chain_phases,omitempty"`
}

// Campaign is the campaign SDO.
type Campaign struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Aliases     []string   `json:"aliases,omitempty"`
	FirstSeen   *Timestamp `json:"first_seen,omitempty"`
	LastSeen    *Timestamp `json:"last_seen,omitempty"`
	Objective   string     `json:"objective,omitempty"`
}

// CourseOfAction is the course-of-action SDO.
type CourseOfAction struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Grouping is the grouping SDO.
type Grouping struct {
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Context     string   `json:"context"`
	ObjectRefs  []string `json:"object_refs"`
}

// Identity is the identity SDO.
type Identity struct {
	Name               string   `json:"name"`
	Description        string   `json:"description,omitempty"`
	Roles              []string `json:"roles,omitempty"`
	IdentityClass      string   `json:"identity_class,omitempty"`
	Sectors            []string `json:"sectors,omitempty"`
	ContactInformation string   `json:"contact_information,omitempty"`
}

// Indicator is the indicator SDO.
type Indicator struct {
	Name            string           `json:"name,omitempty"`
	Description     string           `json:"description,omitempty"`
	IndicatorTypes  []string         `json:"indicator_types,omitempty"`
	Pattern         string           `json:"pattern"`
	PatternType     string           `json:"pattern_type"`
	PatternVersion  string           `json:"pattern_version,omitempty"`
	ValidFrom       Timestamp        `json:"valid_from"`
	ValidUntil      *Timestamp       `json:"valid_until,omitempty"`
	KillChainPhases []KillChainPhase `json:"kill_chain_phases,omitempty"`
}

// Infrastructure is the infrastructure SDO.
type Infrastructure struct {
	Name                string           `json:"name"`
	Description         string           `json:"description,omitempty"`
	InfrastructureTypes []string         `json:"infrastructure_types,omitempty"`
	Aliases             []string         `json:"aliases,omitempty"`
	KillChainPhases     []KillChainPhase `json:"kill_chain_phases,omitempty"`
	FirstSeen           *Timestamp       `json:"first_seen,omitempty"`
	LastSeen            *Timestamp       `json:"last_seen,omitempty"`
}

// IntrusionSet is the intrusion-set SDO.
type IntrusionSet struct {
	Name                 string     `json:"name"`
	Description          string     `json:"description,omitempty"`
	Aliases              []string   `json:"aliases,omitempty"`
	FirstSeen            *Timestamp `json:"first_seen,omitempty"`
	LastSeen             *Timestamp `json:"last_seen,omitempty"`
	Goals                []string   `json:"goals,omitempty"`
	ResourceLevel        string     `json:"resource_level,omitempty"`
	PrimaryMotivation    string     `json:"primary_motivation,omitempty"`
	SecondaryMotivations []string   `json:"secondary_motivations,omitempty"`
}

// Location is the location SDO.
type Location struct {
	Name               string   `json:"name,omitempty"`
	Description        string   `json:"description,omitempty"`
	Latitude           *float64 `json:"latitude,omitempty"`
	Longitude          *float64 `json:"longitude,omitempty"`
	Precision          *float64 `json:"precision,omitempty"`
	Region             string   `json:"region,omitempty"`
	Country            string   `json:"country,omitempty"`
	AdministrativeArea string   `json:"administrative_area,omitempty"`
	City               string   `json:"city,omitempty"`
	StreetAddress      string   `json:"street_address,omitempty"`
	PostalCode         string   `json:"postal_code,omitempty"`
}

// Malware is the malware SDO.
type Malware struct {
	Name                      string           `json:"name,omitempty"`
	Description               string           `json:"description,omitempty"`
	MalwareTypes              []string         `json:"malware_types,omitempty"`
	IsFamily                  bool             `json:"is_family"`
	Aliases                   []string         `json:"aliases,omitempty"`
	KillChainPhases           []KillChainPhase `json:"kill_chain_phases,omitempty"`
	FirstSeen                 *Timestamp       `json:"first_seen,omitempty"`
	LastSeen                  *Timestamp       `json:"last_seen,omitempty"`
	OperatingSystemRefs       []string         `json:"operating_system_refs,omitempty"`
	ArchitectureExecutionEnvs []string         `json:"architecture_execution_envs,omitempty"`
	ImplementationLanguages   []string         `json:"implementation_languages,omitempty"`
	Capabilities              []string         `json:"capabilities,omitempty"`
	SampleRefs                []string         `json:"sample_refs,omitempty"`
}

// MalwareAnalysis is the malware-analysis SDO.
type MalwareAnalysis struct {
	Product                   string     `json:"product"`
	Version                   string     `json:"version,omitempty"`
	HostVMRef                 string     `json:"host_vm_ref,omitempty"`
	OperatingSystemRef        string     `json:"operating_system_ref,omitempty"`
	InstalledSoftwareRefs     []string   `json:"installed_software_refs,omitempty"`
	ConfigurationVersion      string     `json:"configuration_version,omitempty"`
	Modules                   []string   `json:"modules,omitempty"`
	AnalysisEngineVersion     string     `json:"analysis_engine_version,omitempty"`
	AnalysisDefinitionVersion string     `json:"analysis_definition_version,omitempty"`
	Submitted                 *Timestamp `json:"submitted,omitempty"`
	AnalysisStarted           *Timestamp `json:"analysis_started,omitempty"`
	AnalysisEnded             *Timestamp `json:"analysis_ended,omitempty"`
	ResultName                string     `json:"result_name,omitempty"`
	Result                    string     `json:"result,omitempty"`
	AnalysisSCORefs           []string   `json:"analysis_sco_refs,omitempty"`
	SampleRef                 string     `json:"sample_ref,omitempty"`
}

// Note is the note SDO.
type Note struct {
	Abstract   string   `json:"abstract,omitempty"`
	Content    string   `json:"content"`
	Authors    []string `json:"authors,omitempty"`
	ObjectRefs []string `json:"object_refs"`
}

// ObservedData is the observed-data SDO.
type ObservedData struct {
	FirstObserved  Timestamp  `json:"first_observed"`
	LastObserved   Timestamp  `json:"last_observed"`
	NumberObserved int64      `json:"number_observed"`
	Objects        Dictionary `json:"objects,omitempty"` // deprecated
	ObjectRefs     []string   `json:"object_refs,omitempty"`
}

// Opinion is the opinion SDO.
type Opinion struct {
	Explanation string   `json:"explanation,omitempty"`
	Authors     []string `json:"authors,omitempty"`
	Opinion     string   `json:"opinion"`
	ObjectRefs  []string `json:"object_refs"`
}

// Report is the report SDO.
type Report struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	ReportTypes []string  `json:"report_types,omitempty"`
	Published   Timestamp `json:"published"`
	ObjectRefs  []string  `json:"object_refs"`
}

// ThreatActor is the threat-actor SDO.
type ThreatActor struct {
	Name                 string     `json:"name"`
	Description          string     `json:"description,omitempty"`
	ThreatActorTypes     []string   `json:"threat_actor_types,omitempty"`
	Aliases              []string   `json:"aliases,omitempty"`
	FirstSeen            *Timestamp `json:"first_seen,omitempty"`
	LastSeen             *Timestamp `json:"last_seen,omitempty"`
	Roles                []string   `json:"roles,omitempty"`
	Goals                []string   `json:"goals,omitempty"`
	Sophistication       string     `json:"sophistication,omitempty"`
	ResourceLevel        string     `json:"resource_level,omitempty"`
	PrimaryMotivation    string     `json:"primary_motivation,omitempty"`
	SecondaryMotivations []string   `json:"secondary_motivations,omitempty"`
	PersonalMotivations  []string   `json:"personal_motivations,omitempty"`
}

// Tool is the tool SDO.
type Tool struct {
	Name            string           `json:"name"`
	Description     string           `json:"description,omitempty"`
	ToolTypes       []string         `json:"tool_types,omitempty"`
	Aliases         []string         `json:"aliases,omitempty"`
	KillChainPhases []KillChainPhase `json:"kill_chain_phases,omitempty"`
	ToolVersion     string           `json:"tool_version,omitempty"`
}

// Vulnerability is the vulnerability SDO.
type Vulnerability struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ---- SROs ----

// Relationship is the relationship SRO.
type Relationship struct {
	RelationshipType string     `json:"relationship_type"`
	Description      string     `json:"description,omitempty"`
	SourceRef        string     `json:"source_ref"`
	TargetRef        string     `json:"target_ref"`
	StartTime        *Timestamp `json:"start_time,omitempty"`
	StopTime         *Timestamp `json:"stop_time,omitempty"`
}

// Sighting is the sighting SRO.
type Sighting struct {
	Description      string     `json:"description,omitempty"`
	FirstSeen        *Timestamp `json:"first_seen,omitempty"`
	LastSeen         *Timestamp `json:"last_seen,omitempty"`
	Count            *int64     `json:"count,omitempty"`
	SightingOfRef    string     `json:"sighting_of_ref"`
	ObservedDataRefs []string   `json:"observed_data_refs,omitempty"`
	WhereSightedRefs []string   `json:"where_sighted_refs,omitempty"`
	Summary          bool       `json:"summary,omitempty"`
}

// ---- meta ----

// MarkingDefinition is the marking-definition object.
type MarkingDefinition struct {
	Name           string     `json:"name,omitempty"`
	DefinitionType string     `json:"definition_type,omitempty"`
	Definition     Dictionary `json:"definition,omitempty"`
}

// ---- SCOs ----

// Artifact is the artifact SCO.
type Artifact struct {
	MimeType            string `json:"mime_type,omitempty"`
	PayloadBin          []byte `json:"payload_bin,omitempty"`
	URL                 string `json:"url,omitempty"`
	Hashes              Hashes `json:"hashes,omitempty"`
	EncryptionAlgorithm string `json:"encryption_algorithm,omitempty"`
	DecryptionKey       string `json:"decryption_key,omitempty"`
}

// AutonomousSystem is the autonomous-system SCO.
type AutonomousSystem struct {
	Number int64  `json:"number"`
	Name   string `json:"name,omitempty"`
	RIR    string `json:"rir,omitempty"`
}

// Directory is the directory SCO.
type Directory struct {
	Path         string     `json:"path"`
	PathEnc      string     `json:"path_enc,omitempty"`
	Ctime        *Timestamp `json:"ctime,omitempty"`
	Mtime        *Timestamp `json:"mtime,omitempty"`
	Atime        *Timestamp `json:"atime,omitempty"`
	ContainsRefs []string   `json:"contains_refs,omitempty"`
}

// DomainName is the domain-name SCO.
type DomainName struct {
	Value          string   `json:"value"`
	ResolvesToRefs []string `json:"resolves_to_refs,omitempty"`
}

// EmailAddr is the email-addr SCO.
type EmailAddr struct {
	Value        string `json:"value"`
	DisplayName  string `json:"display_name,omitempty"`
	BelongsToRef string `json:"belongs_to_ref,omitempty"`
}

// EmailMIMEComponent is an entry of email-message body_multipart.
type EmailMIMEComponent struct {
	Body               string `json:"body,omitempty"`
	BodyRawRef         string `json:"body_raw_ref,omitempty"`
	ContentType        string `json:"content_type,omitempty"`
	ContentDisposition string `json:"content_disposition,omitempty"`
}

// EmailMessage is the email-message SCO.
type EmailMessage struct {
	IsMultipart            bool                 `json:"is_multipart"`
	Date                   *Timestamp           `json:"date,omitempty"`
	ContentType            string               `json:"content_type,omitempty"`
	FromRef                string               `json:"from_ref,omitempty"`
	SenderRef              string               `json:"sender_ref,omitempty"`
	ToRefs                 []string             `json:"to_refs,omitempty"`
	CcRefs                 []string             `json:"cc_refs,omitempty"`
	BccRefs                []string             `json:"bcc_refs,omitempty"`
	MessageID              string               `json:"message_id,omitempty"`
	Subject                string               `json:"subject,omitempty"`
	ReceivedLines          []string             `json:"received_lines,omitempty"`
	AdditionalHeaderFields Dictionary           `json:"additional_header_fields,omitempty"`
	Body                   string               `json:"body,omitempty"`
	BodyMultipart          []EmailMIMEComponent `json:"body_multipart,omitempty"`
	RawEmailRef            string               `json:"raw_email_ref,omitempty"`
}

// File is the file SCO.
type File struct {
	Hashes             Hashes     `json:"hashes,omitempty"`
	Size               *int64     `json:"size,omitempty"`
	Name               string     `json:"name,omitempty"`
	NameEnc            string     `json:"name_enc,omitempty"`
	MagicNumberHex     string     `json:"magic_number_hex,omitempty"`
	MimeType           string     `json:"mime_type,omitempty"`
	Ctime              *Timestamp `json:"ctime,omitempty"`
	Mtime              *Timestamp `json:"mtime,omitempty"`
	Atime              *Timestamp `json:"atime,omitempty"`
	ParentDirectoryRef string     `json:"parent_directory_ref,omitempty"`
	ContainsRefs       []string   `json:"contains_refs,omitempty"`
	ContentRef         string     `json:"content_ref,omitempty"`
}

// IPv4Addr is the ipv4-addr SCO.
type IPv4Addr struct {
	Value          string   `json:"value"`
	ResolvesToRefs []string `json:"resolves_to_refs,omitempty"`
	BelongsToRefs  []string `json:"belongs_to_refs,omitempty"`
}

// IPv6Addr is the ipv6-addr SCO.
type IPv6Addr struct {
	Value          string   `json:"value"`
	ResolvesToRefs []string `json:"resolves_to_refs,omitempty"`
	BelongsToRefs  []string `json:"belongs_to_refs,omitempty"`
}

// MACAddr is the mac-addr SCO.
type MACAddr struct {
	Value string `json:"value"`
}

// Mutex is the mutex SCO.
type Mutex struct {
	Name string `json:"name"`
}

// NetworkTraffic is the network-traffic SCO.
type NetworkTraffic struct {
	Start             *Timestamp `json:"start,omitempty"`
	End               *Timestamp `json:"end,omitempty"`
	IsActive          bool       `json:"is_active,omitempty"`
	SrcRef            string     `json:"src_ref,omitempty"`
	DstRef            string     `json:"dst_ref,omitempty"`
	SrcPort           *int       `json:"src_port,omitempty"`
	DstPort           *int       `json:"dst_port,omitempty"`
	Protocols         []string   `json:"protocols"`
	SrcByteCount      *int64     `json:"src_byte_count,omitempty"`
	DstByteCount      *int64     `json:"dst_byte_count,omitempty"`
	SrcPackets        *int64     `json:"src_packets,omitempty"`
	DstPackets        *int64     `json:"dst_packets,omitempty"`
	IPFIX             Dictionary `json:"ipfix,omitempty"`
	SrcPayloadRef     string     `json:"src_payload_ref,omitempty"`
	DstPayloadRef     string     `json:"dst_payload_ref,omitempty"`
	EncapsulatesRefs  []string   `json:"encapsulates_refs,omitempty"`
	EncapsulatedByRef string     `json:"encapsulated_by_ref,omitempty"`
}

// Process is the process SCO.
type Process struct {
	IsHidden             bool       `json:"is_hidden,omitempty"`
	PID                  *int64     `json:"pid,omitempty"`
	CreatedTime          *Timestamp `json:"created_time,omitempty"`
	Cwd                  string     `json:"cwd,omitempty"`
	CommandLine          string     `json:"command_line,omitempty"`
	EnvironmentVariables Dictionary `json:"environment_variables,omitempty"`
	OpenedConnectionRefs []string   `json:"opened_connection_refs,omitempty"`
	CreatorUserRef       string     `json:"creator_user_ref,omitempty"`
	ImageRef             string     `json:"image_ref,omitempty"`
	ParentRef            string     `json:"parent_ref,omitempty"`
	ChildRefs            []string   `json:"child_refs,omitempty"`
}

// Software is the software SCO.
type Software struct {
	Name      string   `json:"name"`
	CPE       string   `json:"cpe,omitempty"`
	SWID      string   `json:"swid,omitempty"`
	Languages []string `json:"languages,omitempty"`
	Vendor    string   `json:"vendor,omitempty"`
	Version   string   `json:"version,omitempty"`
}

// URL is the url SCO.
type URL struct {
	Value string `json:"value"`
}

// UserAccount is the user-account SCO.
type UserAccount struct {
	UserID                string     `json:"user_id,omitempty"`
	Credential            string     `json:"credential,omitempty"`
	AccountLogin          string     `json:"account_login,omitempty"`
	AccountType           string     `json:"account_type,omitempty"`
	DisplayName           string     `json:"display_name,omitempty"`
	IsServiceAccount      bool       `json:"is_service_account,omitempty"`
	IsPrivileged          bool       `json:"is_privileged,omitempty"`
	CanEscalatePrivs      bool       `json:"can_escalate_privs,omitempty"`
	IsDisabled            bool       `json:"is_disabled,omitempty"`
	AccountCreated        *Timestamp `json:"account_created,omitempty"`
	AccountExpires        *Timestamp `json:"account_expires,omitempty"`
	CredentialLastChanged *Timestamp `json:"credential_last_changed,omitempty"`
	AccountFirstLogin     *Timestamp `json:"account_first_login,omitempty"`
	AccountLastLogin      *Timestamp `json:"account_last_login,omitempty"`
}

// WindowsRegistryValue is an entry of windows-registry-key values.
type WindowsRegistryValue struct {
	Name     string `json:"name,omitempty"`
	Data     string `json:"data,omitempty"`
	DataType string `json:"data_type,omitempty"`
}

// WindowsRegistryKey is the windows-registry-key SCO.
type WindowsRegistryKey struct {
	Key             string                 `json:"key,omitempty"`
	Values          []WindowsRegistryValue `json:"values,omitempty"`
	ModifiedTime    *Timestamp             `json:"modified_time,omitempty"`
	CreatorUserRef  string                 `json:"creator_user_ref,omitempty"`
	NumberOfSubkeys *int64                 `json:"number_of_subkeys,omitempty"`
}

// X509Certificate is the x509-certificate SCO.
type X509Certificate struct {
	IsSelfSigned              bool       `json:"is_self_signed,omitempty"`
	Hashes                    Hashes     `json:"hashes,omitempty"`
	Version                   string     `json:"version,omitempty"`
	SerialNumber              string     `json:"serial_number,omitempty"`
	SignatureAlgorithm        string     `json:"signature_algorithm,omitempty"`
	Issuer                    string     `json:"issuer,omitempty"`
	ValidityNotBefore         *Timestamp `json:"validity_not_before,omitempty"`
	ValidityNotAfter          *Timestamp `json:"validity_not_after,omitempty"`
	Subject                   string     `json:"subject,omitempty"`
	SubjectPublicKeyAlgorithm string     `json:"subject_public_key_algorithm,omitempty"`
	SubjectPublicKeyModulus   string     `json:"subject_public_key_modulus,omitempty"`
	SubjectPublicKeyExponent  *int64     `json:"subject_public_key_exponent,omitempty"`
	X509V3Extensions          Dictionary `json:"x509_v3_extensions,omitempty"`
}

// Code below maps typed views to their STIX type names.

// STIXType implements Typed.
func (*AttackPattern) STIXType() string { return "attack-pattern" }

// STIXType implements Typed.
func (*Campaign) STIXType() string { return "campaign" }

// STIXType implements Typed.
func (*CourseOfAction) STIXType() string { return "course-of-action" }

// STIXType implements Typed.
func (*Grouping) STIXType() string { return "grouping" }

// STIXType implements Typed.
func (*Identity) STIXType() string { return "identity" }

// STIXType implements Typed.
func (*Indicator) STIXType() string { return "indicator" }

// STIXType implements Typed.
func (*Infrastructure) STIXType() string { return "infrastructure" }

// STIXType implements Typed.
func (*IntrusionSet) STIXType() string { return "intrusion-set" }

// STIXType implements Typed.
func (*Location) STIXType() string { return "location" }

// STIXType implements Typed.
func (*Malware) STIXType() string { return "malware" }

// STIXType implements Typed.
func (*MalwareAnalysis) STIXType() string { return "malware-analysis" }

// STIXType implements Typed.
func (*Note) STIXType() string { return "note" }

// STIXType implements Typed.
func (*ObservedData) STIXType() string { return "observed-data" }

// STIXType implements Typed.
func (*Opinion) STIXType() string { return "opinion" }

// STIXType implements Typed.
func (*Report) STIXType() string { return "report" }

// STIXType implements Typed.
func (*ThreatActor) STIXType() string { return "threat-actor" }

// STIXType implements Typed.
func (*Tool) STIXType() string { return "tool" }

// STIXType implements Typed.
func (*Vulnerability) STIXType() string { return "vulnerability" }

// STIXType implements Typed.
func (*Relationship) STIXType() string { return "relationship" }

// STIXType implements Typed.
func (*Sighting) STIXType() string { return "sighting" }

// STIXType implements Typed.
func (*MarkingDefinition) STIXType() string { return "marking-definition" }

// STIXType implements Typed.
func (*Artifact) STIXType() string { return "artifact" }

// STIXType implements Typed.
func (*AutonomousSystem) STIXType() string { return "autonomous-system" }

// STIXType implements Typed.
func (*Directory) STIXType() string { return "directory" }

// STIXType implements Typed.
func (*DomainName) STIXType() string { return "domain-name" }

// STIXType implements Typed.
func (*EmailAddr) STIXType() string { return "email-addr" }

// STIXType implements Typed.
func (*EmailMessage) STIXType() string { return "email-message" }

// STIXType implements Typed.
func (*File) STIXType() string { return "file" }

// STIXType implements Typed.
func (*IPv4Addr) STIXType() string { return "ipv4-addr" }

// STIXType implements Typed.
func (*IPv6Addr) STIXType() string { return "ipv6-addr" }

// STIXType implements Typed.
func (*MACAddr) STIXType() string { return "mac-addr" }

// STIXType implements Typed.
func (*Mutex) STIXType() string { return "mutex" }

// STIXType implements Typed.
func (*NetworkTraffic) STIXType() string { return "network-traffic" }

// STIXType implements Typed.
func (*Process) STIXType() string { return "process" }

// STIXType implements Typed.
func (*Software) STIXType() string { return "software" }

// STIXType implements Typed.
func (*URL) STIXType() string { return "url" }

// STIXType implements Typed.
func (*UserAccount) STIXType() string { return "user-account" }

// STIXType implements Typed.
func (*WindowsRegistryKey) STIXType() string { return "windows-registry-key" }

// STIXType implements Typed.
func (*X509Certificate) STIXType() string { return "x509-certificate" }

func init() {

	register[AttackPattern]()

	register[Campaign]()

	register[CourseOfAction]()

	register[Grouping]()

	register[Identity]()

	register[Indicator]()

	register[Infrastructure]()

	register[IntrusionSet]()

	register[Location]()

	register[Malware]()

	register[MalwareAnalysis]()

	register[Note]()

	register[ObservedData]()

	register[Opinion]()

	register[Report]()

	register[ThreatActor]()

	register[Tool]()

	register[Vulnerability]()

	register[Relationship]()

	register[Sighting]()

	register[MarkingDefinition]()

	register[Artifact]()

	register[AutonomousSystem]()

	register[Directory]()

	register[DomainName]()

	register[EmailAddr]()

	register[EmailMessage]()

	register[File]()

	register[IPv4Addr]()

	register[IPv6Addr]()

	register[MACAddr]()

	register[Mutex]()

	register[NetworkTraffic]()

	register[Process]()

	register[Software]()

	register[URL]()

	register[UserAccount]()

	register[WindowsRegistryKey]()

	register[X509Certificate]()

}

package elbv2emu

import (
	"strings"
)

// Signing constants of SigV4 for this service.
const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	signingService = "elasticloadbalancing"
	scopeTerminal  = "aws4_request"
)

// checkScope checks a request's Authorization header closely enough to
// catch a client configured for another region or service, without
// checking the signature: it must be SigV4 with a Credential of the form
// <key>/<date>/<region>/elasticloadbalancing/aws4_request. A missing header
// is MissingAuthenticationToken, a malformed one IncompleteSignature, a
// wrong region or service SignatureDoesNotMatch (with AWS's messages).
func checkScope(authorization, region string) error {
	if authorization == "" {
		return errorf(CodeMissingAuthenticationToken, "Request is missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(authorization, sigV4Algorithm+" ")
	if !ok {
		return errorf(CodeIncompleteSignature, "Authorization header requires the %s algorithm", sigV4Algorithm)
	}
	var credential string
	for part := range strings.SplitSeq(rest, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
			credential = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != scopeTerminal {
		return errorf(CodeIncompleteSignature, "Authorization header requires 'Credential' parameter of the form <key>/<date>/<region>/<service>/%s, got %q", scopeTerminal, credential)
	}
	if scope[2] != region {
		return errorf(CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region, not '%s'.", scope[2])
	}
	if scope[3] != signingService {
		return errorf(CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: '%s'.", signingService)
	}
	return nil
}

package elbv2emu

import (
	"fmt"
	"net/http"
)

// Error codes the emulator returns, as AWS spells them.
const (
	CodeTargetGroupNotFound        = "TargetGroupNotFound"
	CodeLoadBalancerNotFound       = "LoadBalancerNotFound"
	CodeDuplicateTargetGroupName   = "DuplicateTargetGroupName"
	CodeResourceInUse              = "ResourceInUse"
	CodeInvalidTarget              = "InvalidTarget"
	CodeValidationError            = "ValidationError"
	CodeInvalidAction              = "InvalidAction"
	CodeMissingAction              = "MissingAction"
	CodeMalformedQueryString       = "MalformedQueryString"
	CodeThrottling                 = "Throttling"
	CodeInternalFailure            = "InternalFailure"
	CodeServiceUnavailable         = "ServiceUnavailable"
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
)

// messageRateExceeded is AWS's message for a throttled call.
const messageRateExceeded = "Rate exceeded"

// apiError is an error response of the Query API.
type apiError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the error code (<Code>).
	Code string
	// Message is the human-readable message (<Message>).
	Message string
}

// Error returns the code and message.
func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// faultType is the <Type> of the error: Receiver for server-side failures,
// Sender for everything the caller did.
func (e *apiError) faultType() string {
	if e.Status >= http.StatusInternalServerError {
		return "Receiver"
	}
	return "Sender"
}

// errorf returns an apiError with the status AWS uses for code.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{Status: statusOf(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

// statusOf maps an error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case CodeInternalFailure:
		return http.StatusInternalServerError
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case CodeMissingAuthenticationToken, CodeIncompleteSignature, CodeSignatureDoesNotMatch:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

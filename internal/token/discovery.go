package token

import (
	"slices"

	"github.com/go-json-experiment/json"
)

// smartConfiguration is the SMART App Launch v2 discovery document, limited
// to what a backend services server declares.
type smartConfiguration struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Capabilities                      []string `json:"capabilities"`
}

// SmartConfiguration returns the /.well-known/smart-configuration document
// for a backend services token endpoint at tokenURL that offers scopes,
// with the revocation endpoint at revocationURL when it is not empty.
func SmartConfiguration(tokenURL, revocationURL string, scopes []string) []byte {
	algs := make([]string, len(assertionAlgorithms))
	for i, a := range assertionAlgorithms {
		algs[i] = string(a)
	}
	doc := smartConfiguration{
		TokenEndpoint:                     tokenURL,
		RevocationEndpoint:                revocationURL,
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgs:      algs,
		GrantTypesSupported:               []string{grantClientCredentials},
		ScopesSupported:                   slices.Clone(scopes),
		Capabilities:                      []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
	}
	if doc.ScopesSupported == nil {
		doc.ScopesSupported = []string{}
	}

	out, err := json.Marshal(doc)
	if err != nil {
		// A struct of strings and string slices always encodes.
		panic("token: encoding smart-configuration: " + err.Error())
	}
	return out
}

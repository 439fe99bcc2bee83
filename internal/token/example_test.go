package token_test

import (
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

func ExampleSmartConfiguration() {
	doc := token.SmartConfiguration("https://gatehouse.example/token", "https://gatehouse.example/revoke", []string{"system/Claim.read"})
	fmt.Println(string(doc))
	// Output:
	// {"token_endpoint":"https://gatehouse.example/token","revocation_endpoint":"https://gatehouse.example/revoke","token_endpoint_auth_methods_supported":["private_key_jwt"],"token_endpoint_auth_signing_alg_values_supported":["ES256","ES384","RS384","PS384"],"grant_types_supported":["client_credentials"],"scopes_supported":["system/Claim.read"],"capabilities":["client-confidential-asymmetric","permission-v1","permission-v2"]}
}

func ExampleRedactForm() {
	body := []byte("grant_type=client_credentials&client_assertion=eyJhbGciOiJFUzI1NiJ9.e30.c2ln&scope=system%2FClaim.read")
	fmt.Println(string(token.RedactForm(body)))
	// Output:
	// grant_type=client_credentials&client_assertion=sha256:136b6d38d875b03d&scope=system%2FClaim.read
}

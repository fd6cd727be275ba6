# Written for Landfall's tests: destroying (or replacing) a resource needs a second look.
# Rego v0, the conftest style most existing policies are written in.
package main

deny[msg] {
	rc := input.resource_changes[_]
	rc.change.actions[_] == "delete"
	msg := sprintf("%s would be destroyed", [rc.address])
}

# Written for Landfall's tests, after conftest's Terraform examples: instance types outside the
# approved list are a warning, not a failure.
package main

approved_types = {"t3.micro", "t3.small", "t3.medium"}

warn[msg] {
	rc := input.resource_changes[_]
	rc.type == "aws_instance"
	instance_type := rc.change.after.instance_type
	not approved_types[instance_type]
	msg := sprintf("%s uses instance type %s, which is not approved", [rc.address, instance_type])
}

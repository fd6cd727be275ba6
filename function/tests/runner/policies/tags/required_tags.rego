# Written for Landfall's tests: taggable AWS resources created or updated carry an `owner` tag.
# Rego v1.
package main

import rego.v1

taggable := {"aws_instance", "aws_s3_bucket", "aws_db_instance", "aws_lambda_function"}

deny_missing_owner contains msg if {
	some rc in input.resource_changes
	rc.type in taggable
	some action in rc.change.actions
	action in {"create", "update"}
	not rc.change.after.tags.owner
	msg := sprintf("%s has no owner tag", [rc.address])
}

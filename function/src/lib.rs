//! The Landfall function: receives pull-request webhooks, takes per-project locks and dispatches
//! Terraform runs. Its parts land issue by issue; see the README's development guide.

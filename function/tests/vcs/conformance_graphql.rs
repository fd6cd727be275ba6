//! The conformance checker for GitHub's GraphQL API: a `POST /graphql` request's query walked
//! against `api/github_graphql.json` (GitHub's published schema trimmed by
//! `scripts/trim-graphql-schema`): each field on its type, each inline fragment a possible type,
//! each argument one the field takes, fed by a declared variable of the argument's type (a
//! non-null variable may feed a nullable argument), and each variable sent with a JSON value of
//! its scalar type.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Schema {
    types: BTreeMap<String, Type>,
}

#[derive(Deserialize)]
struct Type {
    fields: BTreeMap<String, Field>,
    #[serde(default)]
    possible: Vec<String>,
}

#[derive(Deserialize)]
struct Field {
    #[serde(rename = "type")]
    kind: String,
    args: BTreeMap<String, String>,
}

/// Checks a GraphQL request's JSON body (`query`, `variables`).
pub fn check_graphql(body: &[u8]) -> Result<(), String> {
    let schema: Schema = serde_json::from_str(include_str!("api/github_graphql.json"))
        .map_err(|e| format!("api/github_graphql.json: {e}"))?;
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let query = body["query"].as_str().ok_or("no query")?;
    let tokens = tokenize(query);
    let open = tokens.iter().position(|t| t == "{").ok_or("no selection")?;
    let variables = declared_variables(&tokens[..open]);
    for (name, kind) in &variables {
        let value = &body["variables"][name.as_str()];
        let fits = match named(kind) {
            "String" | "GitObjectID" | "ID" => value.is_string(),
            "Int" => value.is_i64() || value.is_u64(),
            "Boolean" => value.is_boolean(),
            other => {
                return Err(format!(
                    "${name}: a scalar the checker does not know: {other}"
                ));
            }
        };
        let absent_optional = value.is_null() && !kind.ends_with('!');
        if !fits && !absent_optional {
            return Err(format!("${name} ({kind}) was sent as {value}"));
        }
    }
    let walk = Walk {
        schema: &schema,
        tokens: &tokens,
        variables: &variables,
    };
    walk.selection(open, "Query").map(|_| ())
}

fn tokenize(query: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() || c == ',' {
            continue;
        }
        if c == '.' {
            chars.next();
            chars.next();
            tokens.push("...".to_owned());
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                word.push(n);
                chars.next();
            }
            tokens.push(word);
        } else {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// `query($owner: String!, ...)`: each variable's type as spelled.
fn declared_variables(head: &[String]) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    let mut i = 0;
    while i < head.len() {
        if let Some(name) = head[i].strip_prefix('$') {
            let mut kind = String::new();
            i += 2; // the name and ':'
            while i < head.len() && !head[i].starts_with('$') && head[i] != ")" {
                kind.push_str(&head[i]);
                i += 1;
            }
            variables.insert(name.to_owned(), kind);
        } else {
            i += 1;
        }
    }
    variables
}

fn named(kind: &str) -> &str {
    kind.trim_matches(|c| matches!(c, '[' | ']' | '!'))
}

struct Walk<'a> {
    schema: &'a Schema,
    tokens: &'a [String],
    variables: &'a BTreeMap<String, String>,
}

impl Walk<'_> {
    /// The selection set opening at `i` on `type_name`; the index after it.
    fn selection(&self, mut i: usize, type_name: &str) -> Result<usize, String> {
        let t = self
            .schema
            .types
            .get(type_name)
            .ok_or_else(|| format!("type {type_name} is not in the trimmed schema"))?;
        i += 1;
        while self.tokens[i] != "}" {
            if self.tokens[i] == "..." {
                let fragment = &self.tokens[i + 2];
                if fragment != type_name && !t.possible.contains(fragment) {
                    return Err(format!(
                        "... on {fragment}: not a possible type of {type_name}"
                    ));
                }
                i = self.selection(i + 3, fragment)?;
                continue;
            }
            let name = &self.tokens[i];
            i += 1;
            if name == "__typename" {
                continue;
            }
            let field = t
                .fields
                .get(name)
                .ok_or_else(|| format!("{type_name}.{name} is not in the schema"))?;
            if self.tokens[i] == "(" {
                i += 1;
                while self.tokens[i] != ")" {
                    let (arg, value) = (&self.tokens[i], &self.tokens[i + 2]);
                    self.argument(type_name, name, field, arg, value)?;
                    i += 3;
                }
                i += 1;
            }
            if self.tokens[i] == "{" {
                i = self.selection(i, named(&field.kind))?;
            }
        }
        Ok(i + 1)
    }

    fn argument(
        &self,
        type_name: &str,
        name: &str,
        field: &Field,
        arg: &str,
        value: &str,
    ) -> Result<(), String> {
        let at = format!("{type_name}.{name}({arg}:)");
        let expected = field
            .args
            .get(arg)
            .ok_or_else(|| format!("{at} is not in the schema"))?;
        let Some(variable) = value.strip_prefix('$') else {
            // A literal: an Int or a Boolean, as the query spells it.
            let fits = match named(expected) {
                "Int" => value.parse::<i64>().is_ok(),
                "Boolean" => value == "true" || value == "false",
                _ => false,
            };
            return if fits {
                Ok(())
            } else {
                Err(format!("{at} takes {expected}, given {value}"))
            };
        };
        let declared = self
            .variables
            .get(variable)
            .ok_or_else(|| format!("{at}: ${variable} is not declared"))?;
        if declared == expected || declared.strip_suffix('!') == Some(expected.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "{at} takes {expected}, given ${variable}: {declared}"
            ))
        }
    }
}

#[test]
fn the_checker_refuses_what_the_schema_does_not_have() {
    let body = |query: &str, variables: Value| {
        serde_json::to_vec(&serde_json::json!({"query": query, "variables": variables})).unwrap()
    };
    let ok = serde_json::json!({"owner": "acme", "name": "infra", "number": 7});
    let query = "query($owner: String!, $name: String!, $number: Int!) { repository(owner: $owner, name: $name) { pullRequest(number: $number) { headRefOid } } }";
    assert_eq!(check_graphql(&body(query, ok.clone())), Ok(()));
    let as_text = serde_json::json!({"owner": "acme", "name": "infra", "number": "7"});
    let refused = |from: &str, to: &str, variables: &Value| {
        check_graphql(&body(&query.replace(from, to), variables.clone())).unwrap_err()
    };
    let why = refused("headRefOid", "headSha", &ok);
    assert!(why.contains("PullRequest.headSha"), "{why}");
    let why = refused("number: $number", "num: $number", &ok);
    assert!(why.contains("pullRequest(num:)"), "{why}");
    let why = refused("$number: Int!", "$number: String!", &as_text);
    assert!(why.contains("takes Int!"), "{why}");
    let why = refused("{ headRefOid }", "{ ... on Issue { title } }", &ok);
    assert!(why.contains("not a possible type"), "{why}");
    let why = check_graphql(&body(query, as_text)).unwrap_err();
    assert!(why.contains("$number"), "{why}");
}

//! Rendering: the seeds' templates, dependencies and completeness, delimiters,
//! compile errors and the denylist.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use caravan_template::testing::StaticContext;
use caravan_template::{
    Choose, ConsulServiceQuery, Dependency, Health, HealthFilter, KeyQuery, RenderError,
    ServiceInstance, ServiceQuery, Template, TemplateOptions, env_file, render,
};

/// The template of examples/seeds/s3-nomad-service.nomad.
const SEED: &str =
    "{{ range nomadService \"redis\" }}\nDEMO_REDIS_ADDR={{ .Address }}:{{ .Port }}\n{{ end }}\n";

fn instance(name: &str, id: &str, address: &str, port: u16) -> ServiceInstance {
    ServiceInstance {
        id: id.to_string(),
        name: name.to_string(),
        node_id: format!("node-of-{id}"),
        address: address.to_string(),
        port,
        datacenter: "dc1".to_string(),
        job_id: "example".to_string(),
        alloc_id: format!("alloc-of-{id}"),
        ..Default::default()
    }
}

fn redis_dependency() -> BTreeSet<Dependency> {
    BTreeSet::from([Dependency::NomadService(ServiceQuery::new("redis"))])
}

#[test]
fn seed_template_renders_one_instance_into_an_env_file() {
    let t = Template::parse("secrets/config.env", SEED).unwrap();
    let ctx = StaticContext::new()
        .nomad_service("redis", vec![instance("redis", "r1", "10.0.0.5", 23456)]);

    let out = render(&t, &ctx).unwrap();

    assert!(out.is_complete());
    assert_eq!(out.text, "\nDEMO_REDIS_ADDR=10.0.0.5:23456\n\n");
    assert_eq!(out.dependencies, redis_dependency());
    // `env = true`: the task gets the variable.
    let vars = env_file::parse(&out.text).unwrap();
    assert_eq!(vars.get("DEMO_REDIS_ADDR").unwrap(), "10.0.0.5:23456");
}

#[test]
fn seed_template_lists_two_instances_in_id_order() {
    let t = Template::parse("t", SEED).unwrap();
    // The context's order is not the output's: instances are sorted by ID.
    let ctx = StaticContext::new().nomad_service(
        "redis",
        vec![
            instance("redis", "r2", "10.0.0.6", 2),
            instance("redis", "r1", "10.0.0.5", 1),
        ],
    );

    let out = render(&t, &ctx).unwrap();

    assert_eq!(
        out.text,
        "\nDEMO_REDIS_ADDR=10.0.0.5:1\n\nDEMO_REDIS_ADDR=10.0.0.6:2\n\n"
    );
}

#[test]
fn no_instances_is_complete_with_an_empty_body() {
    let t = Template::parse("t", SEED).unwrap();
    let ctx = StaticContext::new().nomad_service("redis", vec![]);

    let out = render(&t, &ctx).unwrap();

    // The query returned, even empty: the template may be written.
    assert!(out.is_complete());
    assert_eq!(out.text, "\n");
    assert_eq!(out.dependencies, redis_dependency());
}

#[test]
fn first_render_reports_the_missing_dependency() {
    let t = Template::parse("t", SEED).unwrap();
    let ctx = StaticContext::new();

    let out = render(&t, &ctx).unwrap();

    assert!(!out.is_complete());
    assert_eq!(out.missing, redis_dependency());
    assert_eq!(out.dependencies, redis_dependency());
    // Asked once, although the template ran twice.
    assert_eq!(
        ctx.asked(),
        vec![Dependency::NomadService(ServiceQuery::new("redis"))]
    );
}

#[test]
fn placeholder_data_does_not_fail_the_first_render() {
    // `index` on the empty placeholder list would fail; the data is missing, so the
    // render is incomplete rather than an error.
    let t = Template::parse("t", "{{ (index (nomadService \"redis\") 0).Address }}").unwrap();
    let out = render(&t, &StaticContext::new()).unwrap();
    assert!(!out.is_complete());

    // With the data, it is a real error, and the dependency is still reported.
    let err = render(&t, &StaticContext::new().nomad_service("redis", vec![])).unwrap_err();
    let RenderError::Execute { dependencies, .. } = &err else {
        panic!("expected an execution error, got {err:?}");
    };
    assert_eq!(dependencies, &redis_dependency());
    assert!(err.to_string().starts_with("template: t: "), "{err}");
}

#[test]
fn tag_filter_and_region_reach_the_dependency() {
    let t = Template::parse(
        "t",
        "{{ range nomadService \"db.redis@eu\" }}{{ .ID }} {{ end }}",
    )
    .unwrap();
    let mut tagged = instance("redis", "r2", "a", 1);
    tagged.tags = vec!["db".to_string(), "cache".to_string()];
    let ctx =
        StaticContext::new().nomad_service("redis", vec![instance("redis", "r1", "a", 1), tagged]);

    let out = render(&t, &ctx).unwrap();

    assert_eq!(out.text, "r2 ");
    let mut query = ServiceQuery::new("redis");
    query.tag = Some("db".to_string());
    query.region = Some("eu".to_string());
    assert_eq!(
        out.dependencies,
        BTreeSet::from([Dependency::NomadService(query)])
    );
}

#[test]
fn instance_fields_match_consul_templates_nomad_service() {
    let t = Template::parse(
        "t",
        "{{ with index (nomadService \"redis\") 0 }}{{ .ID }}|{{ .Name }}|{{ .Node }}|{{ .Address }}|\
         {{ .Port }}|{{ .Datacenter }}|{{ .Tags }}|{{ .JobID }}|{{ .AllocID }}|{{ .Health }}{{ end }}",
    )
    .unwrap();
    let mut redis = instance("redis", "r1", "10.0.0.5", 6379);
    redis.tags = vec!["z".to_string(), "a".to_string()];
    redis.health = Health::Critical;
    let ctx = StaticContext::new().nomad_service("redis", vec![redis]);

    let out = render(&t, &ctx).unwrap();

    assert_eq!(
        out.text,
        "r1|redis|node-of-r1|10.0.0.5|6379|dc1|[a z]|example|alloc-of-r1|critical"
    );
}

#[test]
fn choose_form_is_asked_with_the_key_from_the_environment() {
    let t = Template::parse(
        "t",
        "{{ range nomadService 2 (env \"NOMAD_ALLOC_ID\") \"redis\" }}{{ .ID }},{{ end }}",
    )
    .unwrap();
    let ctx = StaticContext::new()
        .env("NOMAD_ALLOC_ID", "alloc-1")
        .nomad_service("redis", vec![instance("redis", "r1", "a", 1)]);

    let out = render(&t, &ctx).unwrap();

    assert_eq!(out.text, "r1,");
    let chosen = ServiceQuery::new("redis").with_choose(2, "alloc-1");
    assert_eq!(
        chosen.choose,
        Some(Choose {
            count: 2,
            key: "alloc-1".to_string()
        })
    );
    assert_eq!(
        out.dependencies,
        BTreeSet::from([Dependency::NomadService(chosen.clone())])
    );
    // The environment is answered first, so the placeholder key "" is never asked.
    assert_eq!(ctx.asked(), vec![Dependency::NomadService(chosen)]);
}

#[test]
fn custom_delimiters_leave_braces_alone() {
    let options = TemplateOptions::default().delims("[[", "]]");
    let t = Template::parse_with(
        "t",
        "[[ range nomadService \"redis\" ]]{{ literal }} [[ .Address ]][[ end ]]",
        &options,
    )
    .unwrap();
    let ctx =
        StaticContext::new().nomad_service("redis", vec![instance("redis", "r1", "10.1.1.1", 1)]);

    assert_eq!(render(&t, &ctx).unwrap().text, "{{ literal }} 10.1.1.1");
    // Empty delimiters mean the defaults, as an unset left_delimiter does in Nomad.
    assert_eq!(
        TemplateOptions::default().delims("", ""),
        TemplateOptions::default()
    );
}

#[test]
fn env_reads_the_task_environment() {
    let t = Template::parse(
        "t",
        "{{ env \"NOMAD_PORT_http\" }}|{{ env \"UNSET\" }}|{{ envOrDefault \"UNSET\" \"dflt\" }}|\
         {{ envOrDefault \"EMPTY\" \"dflt\" }}|{{ or (env \"UNSET\") \"or-default\" }}|{{ env \"node.unique.id\" }}",
    )
    .unwrap();
    let ctx = StaticContext::new()
        .env("NOMAD_PORT_http", "8080")
        .env("EMPTY", "")
        .env("node.unique.id", "n-1");

    let out = render(&t, &ctx).unwrap();

    assert_eq!(out.text, "8080||dflt||or-default|n-1");
    assert!(out.is_complete());
    assert!(
        out.dependencies.is_empty(),
        "the environment is not a dependency"
    );
}

#[test]
fn must_env_fails_on_an_unset_variable() {
    let t = Template::parse("t", "{{ mustEnv \"NOPE\" }}").unwrap();
    let err = render(&t, &StaticContext::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("required environment variable NOPE is empty"),
        "{err}"
    );
}

#[test]
fn by_tag_groups_instances() {
    let t = Template::parse(
        "t",
        "{{ range $tag, $list := nomadService \"web\" | byTag }}{{ $tag }}:{{ range $list }} {{ .ID }}{{ end }};{{ end }}",
    )
    .unwrap();
    let mut a = instance("web", "w1", "a", 1);
    a.tags = vec!["v1".to_string(), "canary".to_string()];
    let mut b = instance("web", "w2", "b", 2);
    b.tags = vec!["v1".to_string()];
    let ctx = StaticContext::new().nomad_service("web", vec![a, b]);

    assert_eq!(render(&t, &ctx).unwrap().text, "canary: w1;v1: w1 w2;");
}

#[test]
fn to_json_encodes_instances_and_strings() {
    let t = Template::parse(
        "t",
        "{{ nomadService \"redis\" | toJSON }}\n{{ env \"X\" | toJSON }}\n{{ toJSONPretty (split \",\" \"a,b\") }}",
    )
    .unwrap();
    let ctx = StaticContext::new()
        .env("X", "a\"<b>\n")
        .nomad_service("redis", vec![instance("redis", "r1", "10.0.0.5", 6379)]);

    let out = render(&t, &ctx).unwrap();

    assert_eq!(
        out.text,
        "[{\"Address\":\"10.0.0.5\",\"AllocID\":\"alloc-of-r1\",\"Datacenter\":\"dc1\",\"Health\":\"passing\",\
         \"ID\":\"r1\",\"JobID\":\"example\",\"Name\":\"redis\",\"Node\":\"node-of-r1\",\"Port\":6379,\"Tags\":[]}]\n\
         \"a\\\"\\u003cb\\u003e\\n\"\n[\n  \"a\",\n  \"b\"\n]"
    );
    // A JSON-quoted value survives the env file round trip.
    let env = Template::parse("t", "X={{ env \"X\" | toJSON }}").unwrap();
    let text = render(&env, &ctx).unwrap().text;
    assert_eq!(
        env_file::parse(&text).unwrap().get("X").unwrap(),
        "a\"<b>\n"
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = Template::parse("local/app.conf", "line one\nline two\n{{ .Foo ").unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(
        err.to_string(),
        "template: local/app.conf:3:9: unclosed action"
    );

    let err = Template::parse("t", "a\n\n{{ nope 1 }}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: t:3:4: function \"nope\" not defined"
    );
}

#[test]
fn blocks_must_be_closed_and_ends_must_close_something() {
    // gotmpl alone accepts these (and drops what follows a stray end); Go does not.
    for (text, line, col, message) in [
        (
            "ok\n  {{ if true }}never closed",
            2,
            3,
            "unexpected EOF: {{if}} is never closed by {{end}}",
        ),
        (
            "{{ range 3 }}{{ with 1 }}x{{ end }}",
            1,
            1,
            "unexpected EOF: {{range}} is never closed by {{end}}",
        ),
        ("a\nb {{- end }} dropped", 2, 3, "unexpected {{end}}"),
        ("{{ else }}", 1, 1, "unexpected {{else}}"),
    ] {
        let err = Template::parse("t", text).unwrap_err();
        assert_eq!(
            (err.line, err.col, err.message.as_str()),
            (line, col, message),
            "{text:?}"
        );
    }

    // Delimiters inside strings and comments are not actions.
    let t = Template::parse(
        "t",
        "{{/* {{ end }} */}}{{ \"}} {{ end\" }}{{ `{{ if` }}{{ if true }}{{ '}' }}{{ else if false }}{{ else }}{{ end }}{{- block \"b\" . -}}B{{- end -}}",
    )
    .unwrap();
    assert_eq!(
        render(&t, &StaticContext::new()).unwrap().text,
        "}} {{ end{{ if125B"
    );

    let err = Template::parse("t", "a\n  {{ nope 1 }}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: t:2:6: function \"nope\" not defined"
    );
}

#[test]
fn denied_functions_are_refused_at_compile_time() {
    for (text, name, col) in [
        ("{{ plugin \"/bin/sh\" \"-c\" \"id\" }}", "plugin", 4),
        ("x\n{{ executeTemplate \"a\" }}", "executeTemplate", 4),
        (
            "{{ \"a\" | writeToFile \"/etc/x\" \"\" \"\" \"0644\" }}",
            "writeToFile",
            10,
        ),
        (
            "{{ define \"a\" }}{{ plugin \"x\" }}{{ end }}",
            "plugin",
            20,
        ),
    ] {
        let err = Template::parse("t", text).unwrap_err();
        assert_eq!(
            err.message,
            format!("function {name:?} is disabled by the client's function_denylist"),
            "{text}"
        );
        assert_eq!(err.col, col, "{text}: {err}");
    }

    // The client's denylist is configurable.
    let mut options = TemplateOptions::default();
    options.function_denylist.insert("env".to_string());
    let err = Template::parse_with("t", "{{ env \"HOME\" }}", &options).unwrap_err();
    assert!(err.message.contains("\"env\" is disabled"), "{err}");
}

#[test]
fn every_listed_function_compiles_and_the_builtins_run() {
    for name in caravan_template::function_names() {
        let text = format!("{{{{ if false }}}}{{{{ {name} }}}}{{{{ end }}}}");
        assert!(
            Template::parse("t", &text).is_ok(),
            "{name} should be known"
        );
    }
    let t = Template::parse(
        "t",
        "{{ and 1 2 }} {{ or 0 1 }} {{ not false }} {{ eq 1 2 1 }} {{ ne 1 2 }} {{ lt 1 2 }} \
         {{ le 1 1 }} {{ gt 2 1 }} {{ ge 1 1 }} {{ len \"ab\" }} {{ index (split \",\" \"a,b\") 1 }} \
         {{ slice \"abc\" 1 }} {{ print 1 }} {{ printf \"%03d %q\" 7 \"x\" }} {{ html \"<\" }} \
         {{ js \"'\" }} {{ urlquery \"a b\" }}{{ println }}{{ range $i := 3 }}{{ $i }}{{ end }}",
    )
    .unwrap();
    assert_eq!(
        render(&t, &StaticContext::new()).unwrap().text,
        "2 1 true true true true true true true 2 b bc 1 007 \"x\" &lt; \\' a+b\n012"
    );
}

#[test]
fn helpers_behave_as_in_consul_template() {
    let t = Template::parse(
        "t",
        "{{ \"a,b, c\" | split \",\" | join \";\" }}|{{ split \",\" \"  \" | len }}|\
         {{ \"Hello\" | toLower }}{{ \"x\" | toUpper }}|{{ \"hello big-world\" | toTitle }}|\
         {{ \"  pad \" | trimSpace }}|{{ \"web-1\" | hasPrefix \"web\" }}{{ \"web-1\" | hasSuffix \"2\" }}|\
         {{ \"a.b.c\" | replaceAll \".\" \"/\" }}|{{ list }}|\
         {{ parseInt \"-42\" | add 2 }}|{{ parseBool \"True\" }}|{{ parseFloat \"2.5\" | multiply 2 }}|\
         {{ 10 | subtract 3 }}|{{ 7 | modulo 4 }}|{{ \"xxhixx\" | trim \"x\" }}|{{ \"v1.2\" | trimPrefix \"v\" }}",
    );
    // `list` is sprig's: not provided.
    let err = t.unwrap_err();
    assert!(err.message.contains("\"list\" not defined"), "{err}");

    let t = Template::parse(
        "t",
        "{{ \"a,b, c\" | split \",\" | join \";\" }}|{{ split \",\" \"  \" | len }}|\
         {{ \"Hello\" | toLower }}{{ \"x\" | toUpper }}|{{ \"hello big-world\" | toTitle }}|\
         {{ \"  pad \" | trimSpace }}|{{ \"web-1\" | hasPrefix \"web\" }}{{ \"web-1\" | hasSuffix \"2\" }}|\
         {{ \"a.b.c\" | replaceAll \".\" \"/\" }}|{{ split \",\" \"x,y\" | contains \"y\" }}{{ \"team\" | contains \"ea\" }}|\
         {{ parseInt \"-42\" | add 2 }}|{{ parseBool \"True\" }}|{{ parseFloat \"2.5\" | multiply 2 }}|\
         {{ 10 | subtract 3 }}|{{ 7 | modulo 4 }}|{{ \"xxhixx\" | trim \"x\" }}|{{ \"v1.2\" | trimPrefix \"v\" }}|\
         {{ parseInt \"\" }}",
    )
    .unwrap();
    assert_eq!(
        render(&t, &StaticContext::new()).unwrap().text,
        "a;b; c|0|helloX|Hello Big-World|pad|truefalse|a/b/c|truetrue|-40|true|5|7|3|hi|1.2|0"
    );

    let bad = Template::parse("t", "{{ parseInt \"4x\" }}").unwrap();
    let err = render(&bad, &StaticContext::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("parseInt: strconv.ParseInt: parsing \"4x\": invalid syntax"),
        "{err}"
    );
}

#[test]
fn service_is_healthy_only_unless_filtered() {
    let mut warning = instance("web", "w2", "b", 2);
    warning.health = Health::Warning;
    let mut critical = instance("web", "w3", "c", 3);
    critical.health = Health::Critical;
    let ctx = StaticContext::new().consul_service(
        "web",
        vec![critical, warning, instance("web", "w1", "a", 1)],
    );
    let ids = |text: &str| {
        let t = Template::parse("t", text).unwrap();
        render(&t, &ctx).unwrap().text
    };

    assert_eq!(
        ids("{{ range service \"web\" }}{{ .ID }}:{{ .Status }} {{ end }}"),
        "w1:passing "
    );
    assert_eq!(
        ids("{{ range service \"web|any\" }}{{ .ID }} {{ end }}"),
        "w1 w2 w3 "
    );
    assert_eq!(
        ids("{{ range service \"web|passing,warning\" }}{{ .ID }} {{ end }}"),
        "w1 w2 "
    );
    assert_eq!(
        ids("{{ range service \"web\" \"warning\" }}{{ .ID }} {{ end }}"),
        "w2 "
    );

    let t = Template::parse("t", "{{ service \"web|any\" }}").unwrap();
    let out = render(&t, &ctx).unwrap();
    let mut query = ConsulServiceQuery::new("web");
    query.filter = HealthFilter::Any;
    assert_eq!(
        out.dependencies,
        BTreeSet::from([Dependency::ConsulService(query)])
    );
}

#[test]
fn listings_are_sorted_with_unique_tags() {
    let mut a = instance("web", "w1", "a", 1);
    a.tags = vec!["b".to_string(), "a".to_string()];
    let mut b = instance("web", "w2", "b", 2);
    b.tags = vec!["a".to_string()];
    let ctx = StaticContext::new()
        .nomad_service("web", vec![a, b])
        .nomad_service("api", vec![]);
    let t = Template::parse(
        "t",
        "{{ range nomadServices }}{{ .Name }}{{ .Tags }} {{ end }}",
    )
    .unwrap();

    let out = render(&t, &ctx).unwrap();

    assert_eq!(out.text, "api[] web[a b] ");
    assert_eq!(
        out.dependencies,
        BTreeSet::from([Dependency::NomadServices { region: None }])
    );
}

#[test]
fn key_waits_for_the_key_but_key_or_default_does_not() {
    let key = Template::parse("t", "{{ key \"app/limit\" }}").unwrap();
    let dflt = Template::parse(
        "t",
        "{{ keyOrDefault \"app/limit\" \"10\" }} {{ keyExists \"app/limit\" }}",
    )
    .unwrap();
    let dep = BTreeSet::from([Dependency::Key(KeyQuery::new("app/limit"))]);

    // The KV store has not answered: both wait.
    let none = StaticContext::new();
    assert_eq!(render(&key, &none).unwrap().missing, dep);
    assert_eq!(render(&dflt, &none).unwrap().missing, dep);

    // It answered, without the key: `key` waits for it to exist, the others go on.
    let absent = StaticContext::new().kv();
    assert_eq!(render(&key, &absent).unwrap().missing, dep);
    let out = render(&dflt, &absent).unwrap();
    assert!(out.is_complete());
    assert_eq!(out.text, "10 false");
    assert_eq!(out.dependencies, dep);

    let present = StaticContext::new().key("app/limit", "25");
    assert_eq!(render(&key, &present).unwrap().text, "25");
    assert_eq!(render(&dflt, &present).unwrap().text, "25 true");
}

#[test]
fn ls_lists_direct_children_and_tree_everything() {
    let ctx = StaticContext::new()
        .key("app/b", "2")
        .key("app/a", "1")
        .key("app/sub/c", "3")
        .key("app/folder/", "")
        .key("other/x", "9");
    let ls = Template::parse(
        "t",
        "{{ range ls \"/app\" }}{{ .Key }}={{ .Value }} {{ end }}",
    )
    .unwrap();
    let tree = Template::parse(
        "t",
        "{{ range tree \"app/\" }}{{ .Key }}={{ .Value }} {{ end }}",
    )
    .unwrap();

    assert_eq!(render(&ls, &ctx).unwrap().text, "a=1 b=2 ");
    assert_eq!(render(&tree, &ctx).unwrap().text, "a=1 b=2 sub/c=3 ");
    assert_eq!(
        render(&ls, &ctx).unwrap().dependencies,
        BTreeSet::from([Dependency::KeyList(KeyQuery::new("app"))])
    );
}

#[test]
fn queries_built_from_answers_are_followed() {
    // The second key's path is the first key's value: two rounds of questions.
    let t = Template::parse("t", "{{ key (key \"pointer\") }}").unwrap();
    let ctx = StaticContext::new()
        .key("pointer", "target")
        .key("target", "found");

    let out = render(&t, &ctx).unwrap();

    assert_eq!(out.text, "found");
    assert_eq!(
        out.dependencies,
        BTreeSet::from([
            Dependency::Key(KeyQuery::new("pointer")),
            Dependency::Key(KeyQuery::new("target")),
        ])
    );
}

#[test]
fn bad_queries_are_execution_errors() {
    let t = Template::parse("t", "{{ nomadService \"bad name\" }}").unwrap();
    let err = render(&t, &StaticContext::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("nomadService: invalid query \"bad name\""),
        "{err}"
    );

    let t = Template::parse("t", "{{ service \"web|healthy\" }}").unwrap();
    let err = render(&t, &StaticContext::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown health filter \"healthy\""),
        "{err}"
    );

    let t = Template::parse("t", "{{ nomadService 0 \"k\" \"redis\" }}").unwrap();
    assert!(render(&t, &StaticContext::new()).is_err());
}

#[test]
fn error_on_missing_key_is_honoured() {
    let text = "{{ with index (nomadService \"redis\") 0 }}{{ .Nope }}{{ end }}";
    let ctx = StaticContext::new().nomad_service("redis", vec![instance("redis", "r1", "a", 1)]);

    let lenient = Template::parse("t", text).unwrap();
    assert_eq!(render(&lenient, &ctx).unwrap().text, "<no value>");

    let strict = Template::parse_with(
        "t",
        text,
        &TemplateOptions::default().error_on_missing_key(true),
    )
    .unwrap();
    assert!(render(&strict, &ctx).is_err());
}

#[test]
fn a_template_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();

    let t = std::sync::Arc::new(Template::parse("t", SEED).unwrap());
    let handles: Vec<_> = (0..4u16)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let ctx = StaticContext::new()
                    .nomad_service("redis", vec![instance("redis", "r", "h", 100 + i)]);
                render(&t, &ctx).unwrap().text
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(
            h.join().unwrap(),
            format!("\nDEMO_REDIS_ADDR=h:{}\n\n", 100 + i)
        );
    }
}

#[test]
fn choose_keeps_the_contexts_order() {
    // With `choose` the order is the server's rendezvous order, not the ID order.
    let t = Template::parse(
        "t",
        "{{ range nomadService 2 \"k\" \"redis\" }}{{ .ID }} {{ end }}",
    )
    .unwrap();
    let ctx = StaticContext::new().nomad_service(
        "redis",
        vec![
            instance("redis", "r2", "a", 1),
            instance("redis", "r1", "a", 1),
        ],
    );
    assert_eq!(render(&t, &ctx).unwrap().text, "r2 r1 ");
}

use super::*;
use candle_core::{DType, Device, Var};

/// A small CNN with a batch norm (2 of its 4 vectors non-trainable), chained.
fn cnn() -> ModelSummary {
    ModelSummary::new("cnn", vec![3, 32, 32])
        .with_layer(LayerSummary::new("conv1", "Conv2D", vec![16, 30, 30]).with_params(448, 448))
        .with_layer(
            LayerSummary::new("bn1", "BatchNormalization", vec![16, 30, 30])
                .with_params(64, 32)
                .with_inbound(["conv1"]),
        )
        .with_layer(LayerSummary::new("pool", "GlobalMaxPooling2D", vec![16]).with_inbound(["bn1"]))
        .with_layer(LayerSummary::new("fc", "Dense", vec![10]).with_params(170, 170).with_inbound(["pool"]))
}

/// A residual block: `add` is fed by `conv2` and `conv1`, so the model is functional.
fn residual() -> ModelSummary {
    ModelSummary::new("res", vec![3, 8, 8])
        .with_layer(LayerSummary::new("conv1", "Conv2D", vec![4, 8, 8]).with_params(112, 112))
        .with_layer(LayerSummary::new("conv2", "Conv2D", vec![4, 8, 8]).with_params(148, 148).with_inbound(["conv1"]))
        .with_layer(LayerSummary::new("add", "Add", vec![4, 8, 8]).with_inbound(["conv2", "conv1"]))
        .with_layer(LayerSummary::new("head", "Dense", vec![2]).with_params(514, 0).with_inbound(["add"]))
}

fn parse(summary: &ModelSummary) -> Value {
    serde_json::from_str(&summary.keras_model_json()).expect("keras_model_json is JSON")
}

#[test]
fn totals_count_trainable_and_frozen_parameters() {
    let s = cnn();
    assert_eq!((s.total_params(), s.trainable_params(), s.non_trainable_params()), (682, 650, 32));
    assert_eq!(s.layers[1].non_trainable_params(), 32);
    let r = residual();
    assert_eq!((r.total_params(), r.trainable_params(), r.non_trainable_params()), (774, 260, 514));
    assert!(s.is_sequential());
    assert!(!r.is_sequential());
    assert!(s.validate().is_ok() && r.validate().is_ok());
}

#[test]
fn sequential_table_is_keras_box_table() {
    let table = cnn().table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Model: \"cnn\"");
    assert!(lines[1].starts_with('┏') && lines[1].ends_with('┓'), "{table}");
    assert!(lines[2].starts_with("┃ Layer (type) ") && lines[2].contains("┃ Output Shape "), "{table}");
    assert!(lines[2].ends_with(" Param # ┃"), "Param # is right-aligned: {table}");
    assert!(lines[3].starts_with('┡'), "{table}");
    // Keras' default width: 88 characters.
    let width = lines[1].chars().count();
    assert_eq!(width, 88, "{table}");
    for line in &lines[1..12] {
        assert_eq!(line.chars().count(), width, "ragged line {line:?} in\n{table}");
    }
    let row = |name: &str| lines.iter().find(|l| l.starts_with(&format!("│ {name} "))).copied().unwrap_or_default();
    assert!(row("conv1 (Conv2D)").contains("│ (None, 16, 30, 30) "), "{table}");
    assert!(row("conv1 (Conv2D)").ends_with(" 448 │"), "{table}");
    assert!(row("pool (GlobalMaxPooling2D)").contains("│ (None, 16) ") && row("pool").ends_with(" 0 │"), "{table}");
    assert_eq!(lines.iter().filter(|l| l.starts_with('├')).count(), 3, "a rule between rows: {table}");
    assert!(lines[11].starts_with('└'), "{table}");
    assert_eq!(lines[12], " Total params: 682 (2.66 KB)");
    assert_eq!(lines[13], " Trainable params: 650 (2.54 KB)");
    assert_eq!(lines[14], " Non-trainable params: 32 (128.00 B)");
    assert_eq!(lines.len(), 15);
    assert!(!table.contains("InputLayer") && !table.contains("Connected to"), "{table}");
}

#[test]
fn functional_table_has_input_row_and_connections() {
    let table = residual().table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[2].contains("┃ Connected to "), "{table}");
    assert_eq!(lines[1].chars().count(), 108, "Keras' functional width: {table}");
    let row = |name: &str| lines.iter().find(|l| l.starts_with(&format!("│ {name} "))).copied().unwrap_or_default();
    assert!(row("input_layer (InputLayer)").contains("│ (None, 3, 8, 8) "), "{table}");
    assert!(row("input_layer").trim_end_matches(['│', ' ']).ends_with('-'), "{table}");
    assert!(row("conv1 (Conv2D)").contains("│ input_layer[0][0] "), "{table}");
    assert!(row("add (Add)").contains("│ conv2[0][0], conv1[0][0] "), "{table}");
    assert!(table.ends_with(" Non-trainable params: 514 (2.01 KB)\n"), "{table}");
}

#[test]
fn wide_cells_widen_their_column() {
    let long = "a_layer_name_much_longer_than_the_default_column_width";
    let s = ModelSummary::new("m", vec![1])
        .with_layer(LayerSummary::new(long, "Dense", vec![1_000_000]).with_params(2_000_000, 2_000_000));
    let table = s.table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.iter().any(|l| l.contains(&format!("│ {long} (Dense) │"))), "{table}");
    assert!(lines.iter().any(|l| l.contains(" 2,000,000 │")), "{table}");
    assert!(table.contains(" Total params: 2,000,000 (7.63 MB)"), "{table}");
    let width = lines[1].chars().count();
    assert!(lines[1..6].iter().all(|l| l.chars().count() == width), "{table}");
}

#[test]
fn sequential_json_chains_layers_in_order() {
    let json = parse(&cnn());
    assert_eq!(json["class_name"], "Sequential");
    assert_eq!(json["config"]["name"], "cnn");
    let layers = json["config"]["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["config"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["input_layer", "conv1", "bn1", "pool", "fc"]);
    let classes: Vec<&str> = layers.iter().map(|l| l["class_name"].as_str().unwrap()).collect();
    assert_eq!(classes, ["InputLayer", "Conv2D", "BatchNormalization", "GlobalMaxPooling2D", "Dense"]);
    // TensorBoard chains a Sequential's layers by order: none may carry inbound_nodes.
    assert!(layers.iter().all(|l| l.get("inbound_nodes").is_none()), "{json}");
    assert_eq!(layers[0]["config"]["batch_shape"], json!([null, 3, 32, 32]));
    assert_eq!(layers[2]["build_config"]["input_shape"], json!([null, 16, 30, 30]));
    assert_eq!(layers[1]["config"]["dtype"]["config"]["name"], "float32");
}

/// The edges TensorBoard's `keras_util.py` draws: `(layer, inbound layer)` from each
/// `inbound_nodes[].args[]` tensor (or list of tensors) with a 3-element `keras_history`.
fn functional_edges(json: &Value) -> Vec<(String, String)> {
    let mut edges = Vec::new();
    for layer in json["config"]["layers"].as_array().unwrap() {
        let name = layer["config"]["name"].as_str().unwrap().to_string();
        for node in layer["inbound_nodes"].as_array().expect("functional layers have inbound_nodes") {
            for arg in node["args"].as_array().unwrap() {
                let tensors = match arg {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for t in tensors {
                    let history = t["config"]["keras_history"].as_array().unwrap();
                    assert_eq!(history.len(), 3);
                    edges.push((name.clone(), history[0].as_str().unwrap().to_string()));
                }
            }
        }
    }
    edges
}

#[test]
fn functional_json_has_inbound_nodes_for_every_edge() {
    let json = parse(&residual());
    assert_eq!(json["class_name"], "Functional");
    assert_eq!(json["config"]["input_layers"], json!([["input_layer", 0, 0]]));
    assert_eq!(json["config"]["output_layers"], json!([["head", 0, 0]]));
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        functional_edges(&json),
        [
            pair("conv1", "input_layer"),
            pair("conv2", "conv1"),
            pair("add", "conv2"),
            pair("add", "conv1"),
            pair("head", "add")
        ]
    );
    let layers = json["config"]["layers"].as_array().unwrap();
    assert_eq!(layers[0]["inbound_nodes"], json!([]));
    // A merge layer takes its tensors as one list argument, as Keras' `Add()([a, b])`.
    assert!(layers[3]["inbound_nodes"][0]["args"][0].is_array(), "{}", layers[3]);
    assert_eq!(layers[3]["inbound_nodes"][0]["args"][0][0]["config"]["shape"], json!([null, 4, 8, 8]));
    // The frozen head is not trainable; a layer without parameters is.
    assert_eq!(layers[4]["config"]["trainable"], json!(false));
    assert_eq!(layers[3]["config"]["trainable"], json!(true));
}

#[test]
fn input_layer_name_avoids_layer_names() {
    let s = ModelSummary::new("m", vec![2])
        .with_layer(LayerSummary::new("input_layer", "Dense", vec![2]))
        .with_layer(LayerSummary::new("b", "Dense", vec![2]));
    let json = parse(&s);
    assert_eq!(json["config"]["layers"][0]["name"], "input_layer_1");
    assert_eq!(functional_edges(&json)[0], ("input_layer".to_string(), "input_layer_1".to_string()));
}

#[test]
fn validate_names_the_layer_at_fault() {
    let message = |s: ModelSummary| match s.validate() {
        Err(Error::InvalidModelSummary { model, message }) => format!("{model}: {message}"),
        other => panic!("expected InvalidModelSummary, got {other:?}"),
    };
    let dense = |name: &str| LayerSummary::new(name, "Dense", vec![1]);
    let m = || ModelSummary::new("m", vec![1]);
    assert_eq!(message(m().with_layer(dense("a")).with_layer(dense("a"))), "m: two layers are named \"a\"");
    assert_eq!(
        message(m().with_layer(dense("a").with_inbound(["b"])).with_layer(dense("b"))),
        "m: layer \"a\" is fed by \"b\", which is not a layer listed before it"
    );
    assert!(message(m().with_layer(dense("a/b"))).contains("\"a/b\""));
    assert!(message(m().with_layer(dense("a").with_params(1, 2))).contains("\"a\" has 2 trainable parameters of 1"));
    assert!(message(ModelSummary::new("", vec![1])).contains("no name"));
}

#[test]
fn params_come_from_the_variables_under_a_prefix() {
    let var = |dims: &[usize]| Var::zeros(dims, DType::F32, &Device::Cpu).unwrap();
    let vars = ModelVars::new(vec![
        ("conv1.weight".into(), var(&[16, 3, 3, 3])),
        ("conv1.bias".into(), var(&[16])),
        ("conv10.weight".into(), var(&[2, 2])),
        ("bn.running_mean".into(), var(&[16])),
        ("bn.weight".into(), var(&[16])),
    ])
    .with_non_trainable(|name| name.ends_with("running_mean"));
    let conv1 = LayerSummary::new("conv1", "Conv2D", vec![16, 30, 30]).with_params_of(&vars, "conv1");
    assert_eq!((conv1.params, conv1.trainable_params), (448, 448), "conv10 is not under conv1");
    let bn = LayerSummary::new("bn", "BatchNormalization", vec![16]).with_params_of(&vars, "bn");
    assert_eq!((bn.params, bn.trainable_params), (32, 16));
    let conv10 = LayerSummary::new("conv10", "Dense", vec![2]).with_params_of(&vars, "conv10");
    let summary = ModelSummary { name: "m".into(), input_shape: vec![3, 32, 32], layers: vec![conv1, bn, conv10] };
    assert!(summary.check_against(&vars).is_ok());
    let short = ModelSummary { layers: summary.layers[..2].to_vec(), ..summary.clone() };
    let err = short.check_against(&vars).unwrap_err().to_string();
    assert!(err.contains("464 trainable") && err.contains("hold 468 and 16"), "{err}");
}

#[test]
fn numbers_print_as_keras_prints_them() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(readable_size(0), "0.00 B");
    assert_eq!(readable_size(1023), "1023.00 B");
    assert_eq!(readable_size(1024), "1.00 KB");
    assert_eq!(readable_size(50_890 * 4), "198.79 KB");
    assert_eq!(format_shape(&[]), "(None,)");
    assert_eq!(format_shape(&[3, 4]), "(None, 3, 4)");
}

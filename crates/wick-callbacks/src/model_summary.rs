//! `ModelSummary`: Keras' `model.summary()` table and the model config JSON that
//! TensorBoard's Graphs tab draws as the conceptual graph.

use crate::model_vars::ModelVars;
use crate::{Error, Result};
use serde_json::{json, Value};

/// Bytes per parameter in the sizes the table prints: wick keeps variables in f32 (also
/// under a mixed precision policy, as Keras does).
const BYTES_PER_PARAM: usize = 4;
/// The name Keras 3 gives a model's first `InputLayer`.
const INPUT_LAYER_NAME: &str = "input_layer";
/// Minimum content widths of the table's columns, from Keras' default layout (88
/// characters with `positions=[0.45, 0.80, 1.0]`; 108 with a "Connected to" column).
const SEQUENTIAL_WIDTHS: [usize; 3] = [35, 27, 16];
const FUNCTIONAL_WIDTHS: [usize; 4] = [29, 25, 17, 24];

/// One layer of a [`ModelSummary`]: a row of Keras' `model.summary()` and a node of the
/// conceptual graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer's name, e.g. `"conv1"` or `"blocks.3"` (its variables' prefix). Unique in
    /// the model; no `/` (Keras refuses it in names: TensorBoard reads it as a scope).
    pub name: String,
    /// The Keras class it corresponds to, e.g. `"Conv2D"`, `"DepthwiseConv2D"`,
    /// `"BatchNormalization"`, `"Dense"`, or a custom block's class such as `"MBConvBlock"`.
    pub class_name: String,
    /// The shape of one sample of its output, without the batch axis, in the tensor's own
    /// layout: channels-first `[C, H, W]` for Candle's NCHW images (Keras' default
    /// channels-last would print `[H, W, C]`). The table prints it as `(None, C, H, W)`.
    pub output_shape: Vec<usize>,
    /// All its parameters (elements of its variables), trainable and non-trainable.
    pub params: usize,
    /// Those of [`params`](Self::params) the optimizer trains.
    pub trainable_params: usize,
    /// The names of the layers whose outputs feed it, in argument order; empty when it is
    /// fed by the model's input.
    pub inbound: Vec<String>,
}

impl LayerSummary {
    /// A layer without parameters fed by the model's input; set the rest with the
    /// `with_*` methods or the fields.
    pub fn new(name: impl Into<String>, class_name: impl Into<String>, output_shape: Vec<usize>) -> Self {
        LayerSummary {
            name: name.into(),
            class_name: class_name.into(),
            output_shape,
            params: 0,
            trainable_params: 0,
            inbound: Vec::new(),
        }
    }

    /// The same layer with `params` parameters, `trainable` of them trainable.
    pub fn with_params(mut self, params: usize, trainable: usize) -> Self {
        self.params = params;
        self.trainable_params = trainable;
        self
    }

    /// The same layer with the parameters of the variables of `vars` under `prefix` (named
    /// `prefix` or `prefix.…`, e.g. `conv1.weight` and `conv1.bias` for `"conv1"`), counted
    /// as trainable as `vars` marks them.
    pub fn with_params_of(self, vars: &ModelVars, prefix: &str) -> Self {
        let (mut params, mut trainable) = (0, 0);
        for (name, var) in vars.vars() {
            let under = name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            if under {
                params += var.elem_count();
                if vars.is_trainable(name) {
                    trainable += var.elem_count();
                }
            }
        }
        self.with_params(params, trainable)
    }

    /// The same layer fed by the outputs of the layers named `inbound`.
    pub fn with_inbound<S: Into<String>>(mut self, inbound: impl IntoIterator<Item = S>) -> Self {
        self.inbound = inbound.into_iter().map(Into::into).collect();
        self
    }

    /// Parameters the optimizer does not train (e.g. batch-norm moving statistics).
    pub fn non_trainable_params(&self) -> usize {
        self.params.saturating_sub(self.trainable_params)
    }
}

/// A model's layers, output shapes, parameter counts and connections: Keras'
/// `model.summary()` ([`table`](Self::table)) and `model.to_json()`
/// ([`keras_model_json`](Self::keras_model_json), which the [`TensorBoard`](crate::TensorBoard)
/// callback writes for the Graphs tab, see
/// [`TensorBoard::model_summary`](crate::TensorBoard::model_summary)).
///
/// Building it is the model's job: it knows its layers. Layers are listed in the order
/// they run; a layer may only be fed by layers listed before it.
///
/// A model is *sequential* when its first layer is fed by the input and every other layer
/// by the one before it only (Keras' "sequential-like"). Then the table has Keras'
/// three columns and the JSON is a `Sequential`; otherwise the table adds Keras'
/// "Connected to" column and an `InputLayer` row, and the JSON is a `Functional` model
/// whose `inbound_nodes` carry the edges.
///
/// ```
/// use wick_callbacks::{LayerSummary, ModelSummary};
/// let summary = ModelSummary {
///     name: "mlp".into(),
///     input_shape: vec![4],
///     layers: vec![
///         LayerSummary::new("fc1", "Dense", vec![8]).with_params(40, 40),
///         LayerSummary::new("fc2", "Dense", vec![2]).with_params(18, 18).with_inbound(["fc1"]),
///     ],
/// };
/// assert_eq!(summary.total_params(), 58);
/// assert!(summary.table().contains(" Total params: 58 (232.00 B)"));
/// assert!(summary.keras_model_json().contains(r#""class_name":"Sequential""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    /// The model's name (Keras' `model.name`): the title of the table and the outer scope
    /// of the graph's nodes.
    pub name: String,
    /// One input sample's shape, without the batch axis, in the tensor's layout (as
    /// [`LayerSummary::output_shape`]).
    pub input_shape: Vec<usize>,
    /// The layers in the order they run.
    pub layers: Vec<LayerSummary>,
}

impl ModelSummary {
    /// A summary of the model `name` with no layers yet.
    pub fn new(name: impl Into<String>, input_shape: Vec<usize>) -> Self {
        ModelSummary { name: name.into(), input_shape, layers: Vec::new() }
    }

    /// The same summary with `layer` appended.
    pub fn with_layer(mut self, layer: LayerSummary) -> Self {
        self.layers.push(layer);
        self
    }

    /// Keras' "Total params": every layer's parameters.
    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }

    /// Keras' "Trainable params".
    pub fn trainable_params(&self) -> usize {
        self.layers.iter().map(|l| l.trainable_params).sum()
    }

    /// Keras' "Non-trainable params".
    pub fn non_trainable_params(&self) -> usize {
        self.layers.iter().map(LayerSummary::non_trainable_params).sum()
    }

    /// Whether each layer is fed by the one before it only (the first by the input).
    pub fn is_sequential(&self) -> bool {
        self.layers.iter().enumerate().all(|(i, layer)| match i {
            0 => layer.inbound.is_empty(),
            _ => layer.inbound.len() == 1 && layer.inbound[0] == self.layers[i - 1].name,
        })
    }

    /// Checks what the table and the graph rely on: a model name, unique layer names
    /// without `/`, layers fed only by layers listed before them, and no more trainable
    /// parameters than parameters. An [`Error::InvalidModelSummary`] names the first
    /// layer at fault.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::InvalidModelSummary { model: self.name.clone(), message });
        if self.name.is_empty() {
            return fail("the model has no name".into());
        }
        if self.name.contains('/') {
            return fail("the model's name contains '/'".into());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let name = &layer.name;
            if name.is_empty() || name.contains('/') {
                return fail(format!("layer {i} is named {name:?}: names must be non-empty and without '/'"));
            }
            let before = &self.layers[..i];
            if before.iter().any(|l| &l.name == name) {
                return fail(format!("two layers are named {name:?}"));
            }
            if let Some(src) = layer.inbound.iter().find(|src| !before.iter().any(|l| &l.name == *src)) {
                return fail(format!("layer {name:?} is fed by {src:?}, which is not a layer listed before it"));
            }
            if layer.trainable_params > layer.params {
                return fail(format!(
                    "layer {name:?} has {} trainable parameters of {} in all",
                    layer.trainable_params, layer.params
                ));
            }
        }
        Ok(())
    }

    /// Checks that the totals equal the parameter counts of `vars` (the model's
    /// variables), trainable and non-trainable; an [`Error::InvalidModelSummary`] gives both.
    pub fn check_against(&self, vars: &ModelVars) -> Result<()> {
        let (trainable, non_trainable) = vars.param_counts();
        if (self.trainable_params(), self.non_trainable_params()) != (trainable, non_trainable) {
            return Err(Error::InvalidModelSummary {
                model: self.name.clone(),
                message: format!(
                    "the layers count {} trainable and {} non-trainable parameters; the variables hold {trainable} and {non_trainable}",
                    self.trainable_params(),
                    self.non_trainable_params()
                ),
            });
        }
        Ok(())
    }

    /// The name of the `InputLayer` in the functional form: Keras' `input_layer`, or
    /// `input_layer_<n>` when a layer already has that name.
    fn input_layer_name(&self) -> String {
        let taken = |n: &str| self.layers.iter().any(|l| l.name == n);
        let mut name = INPUT_LAYER_NAME.to_string();
        let mut n = 1;
        while taken(&name) {
            name = format!("{INPUT_LAYER_NAME}_{n}");
            n += 1;
        }
        name
    }

    /// Keras' `model.summary()` as text (Keras 3's box table):
    ///
    /// ```text
    /// Model: "mlp"
    /// ┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┓
    /// ┃ Layer (type)        ┃ Output Shape                ┃          Param # ┃
    /// ┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━┩
    /// │ fc1 (Dense)         │ (None, 8)                   │               40 │
    /// ├─────────────────────┼─────────────────────────────┼──────────────────┤
    /// │ fc2 (Dense)         │ (None, 2)                   │               18 │
    /// └─────────────────────┴─────────────────────────────┴──────────────────┘
    ///  Total params: 58 (232.00 B)
    ///  Trainable params: 58 (232.00 B)
    ///  Non-trainable params: 0 (0.00 B)
    /// ```
    ///
    /// (shortened here: columns are at least Keras' default widths, and wider when a cell
    /// needs it). A model that is not [sequential](Self::is_sequential) gets Keras'
    /// `InputLayer` row and "Connected to" column (`name[0][0]` per inbound layer).
    /// Sizes count 4 bytes per parameter, in Keras' units (B, KB, MB, … of 1024).
    pub fn table(&self) -> String {
        let shape = |dims: &[usize]| format_shape(dims);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let sequential = self.is_sequential();
        let input = self.input_layer_name();
        if !sequential {
            rows.push(vec![format!("{input} (InputLayer)"), shape(&self.input_shape), "0".into(), "-".into()]);
        }
        for layer in &self.layers {
            let mut row = vec![
                format!("{} ({})", layer.name, layer.class_name),
                shape(&layer.output_shape),
                thousands(layer.params),
            ];
            if !sequential {
                let sources: Vec<String> = if layer.inbound.is_empty() {
                    vec![format!("{input}[0][0]")]
                } else {
                    layer.inbound.iter().map(|s| format!("{s}[0][0]")).collect()
                };
                row.push(sources.join(", "));
            }
            rows.push(row);
        }
        let header: Vec<String> = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
            .iter()
            .take(if sequential { 3 } else { 4 })
            .map(|s| s.to_string())
            .collect();
        let minimum: &[usize] = if sequential { &SEQUENTIAL_WIDTHS } else { &FUNCTIONAL_WIDTHS };
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                let content = rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
                content.max(header[c].chars().count()).max(minimum[c])
            })
            .collect();
        // Column 2 (Param #) is right-aligned, header included, as in Keras.
        let cell = |c: usize, text: &str| -> String {
            let pad = widths[c].saturating_sub(text.chars().count());
            if c == 2 {
                format!(" {}{text} ", " ".repeat(pad))
            } else {
                format!(" {text}{} ", " ".repeat(pad))
            }
        };
        let rule = |left: &str, fill: &str, mid: &str, right: &str| -> String {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |sep: &str, cells: &[String]| -> String {
            let parts: Vec<String> = cells.iter().enumerate().map(|(c, t)| cell(c, t)).collect();
            format!("{sep}{}{sep}\n", parts.join(sep))
        };
        let mut out = format!("Model: \"{}\"\n", self.name);
        out += &rule("┏", "━", "┳", "┓");
        out += &line("┃", &header);
        out += &rule("┡", "━", "╇", "┩");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out += &rule("├", "─", "┼", "┤");
            }
            out += &line("│", row);
        }
        out += &rule("└", "─", "┴", "┘");
        let count = |n: usize| format!("{} ({})", thousands(n), readable_size(n * BYTES_PER_PARAM));
        out += &format!(" Total params: {}\n", count(self.total_params()));
        out += &format!(" Trainable params: {}\n", count(self.trainable_params()));
        out += &format!(" Non-trainable params: {}\n", count(self.non_trainable_params()));
        out
    }

    /// The model as Keras 3's `model.to_json()` writes it, in the fields TensorBoard's
    /// Graphs plugin reads (`tensorboard/plugins/graph/keras_util.py`): a `Sequential`
    /// (layers chained in order) or a `Functional` model (see the type docs) whose
    /// `config.layers[]` each have `class_name`, `name`, `config` (`name`, `trainable`,
    /// `dtype`) and, in a `Functional`, `inbound_nodes` as Keras 3 writes them:
    /// `[{"args": [<keras tensor>…], "kwargs": {}}]`, each tensor's `config.keras_history`
    /// being `[layer name, 0, 0]`. Both forms start with Keras' `InputLayer`
    /// (`batch_shape` `[null, …input_shape]`). The graph shows one node per layer, named
    /// `<model name>/<layer name>`, with its Keras class, and an edge per inbound layer.
    pub fn keras_model_json(&self) -> String {
        let sequential = self.is_sequential();
        let input = self.input_layer_name();
        let batch_shape = |dims: &[usize]| -> Value {
            Value::Array(std::iter::once(Value::Null).chain(dims.iter().map(|&d| json!(d))).collect())
        };
        let output_of = |name: &str| -> &[usize] {
            self.layers.iter().find(|l| l.name == name).map_or(&self.input_shape[..], |l| &l.output_shape[..])
        };
        let mut layers = vec![json!({
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": batch_shape(&self.input_shape), "dtype": "float32", "sparse": false, "name": input},
            "registered_name": null,
            "name": input,
        })];
        if !sequential {
            layers[0]["inbound_nodes"] = json!([]);
        }
        for layer in &self.layers {
            let sources: Vec<&str> = if layer.inbound.is_empty() {
                vec![input.as_str()]
            } else {
                layer.inbound.iter().map(String::as_str).collect()
            };
            // A layer's input shape: its (first) inbound layer's output.
            let input_shape = batch_shape(output_of(sources[0]));
            let trainable = layer.trainable_params > 0 || layer.params == 0;
            let mut entry = json!({
                "module": "keras.layers",
                "class_name": layer.class_name,
                "config": {"name": layer.name, "trainable": trainable, "dtype": dtype_policy()},
                "registered_name": null,
                "build_config": {"input_shape": input_shape},
                "name": layer.name,
            });
            if !sequential {
                let tensors: Vec<Value> = sources
                    .iter()
                    .map(|src| {
                        json!({
                            "class_name": "__keras_tensor__",
                            "config": {"shape": batch_shape(output_of(src)), "dtype": "float32", "keras_history": [src, 0, 0]},
                        })
                    })
                    .collect();
                // One argument, or a list of them for a merge layer (Keras' `Add()([a, b])`).
                let args = match <[Value; 1]>::try_from(tensors) {
                    Ok([one]) => vec![one],
                    Err(many) => vec![Value::Array(many)],
                };
                entry["inbound_nodes"] = json!([{"args": args, "kwargs": {}}]);
            }
            layers.push(entry);
        }
        let model = if sequential {
            json!({
                "module": "keras",
                "class_name": "Sequential",
                "config": {"name": self.name, "trainable": true, "dtype": dtype_policy(), "layers": layers},
                "registered_name": null,
                "build_config": {"input_shape": batch_shape(&self.input_shape)},
                "compile_config": null,
            })
        } else {
            let consumed = |name: &str| self.layers.iter().any(|l| l.inbound.iter().any(|s| s == name));
            let outputs: Vec<Value> =
                self.layers.iter().filter(|l| !consumed(&l.name)).map(|l| json!([l.name, 0, 0])).collect();
            json!({
                "module": "keras",
                "class_name": "Functional",
                "config": {
                    "name": self.name,
                    "trainable": true,
                    "layers": layers,
                    "input_layers": [[input, 0, 0]],
                    "output_layers": outputs,
                },
                "registered_name": "Functional",
                "build_config": {"input_shape": null},
                "compile_config": null,
            })
        };
        model.to_string()
    }
}

/// Keras 3's serialized `float32` dtype policy.
fn dtype_policy() -> Value {
    json!({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null})
}

/// A sample shape with the batch axis, as Python prints the tuple: `(None, 3, 32, 32)`,
/// `(None,)` for a scalar per sample.
fn format_shape(dims: &[usize]) -> String {
    match dims {
        [] => "(None,)".to_string(),
        _ => format!("(None, {})", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// `n` with thousands separators, as Python's `f"{n:,}"`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Keras' `readable_memory_size`: two decimals in B, KB, MB, GB, TB or PB (of 1024).
fn readable_size(bytes: usize) -> String {
    let mut size = bytes as f64;
    for unit in ["B", "KB", "MB", "GB", "TB"] {
        if size / 1024.0 < 1.0 {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    format!("{size:.2} PB")
}

#[cfg(test)]
mod tests;

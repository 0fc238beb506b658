"""Using a trained run: feeding a model (`inference`), predictors for a run or an ensemble (`predict`, `ensemble`),
what a model costs to use (`cost`), ONNX export and serving (`onnx_export`, `onnx_predictor`), the Classify
page's batch input and result tables (`batch_io`), calibrated predictions (`calibrated`) and why a model predicts what
it does (`explanations`: Integrated Gradients, the deletion check).

May import: evaluation, models, data, runs, settings, errors."""

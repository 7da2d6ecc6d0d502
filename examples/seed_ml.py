"""The redispatch document's workflow, made real.

1. dispatch a small ML workflow (load data, train an SVC, score it);
2. redispatch it by id with ``compute_recall`` replacing ``compute_accuracy``
   and ``reuse_previous_results=True``: only the metric runs again;
3. redispatch with new ``model_params``: training and scoring run again, the
   data loading is reused.

Each step prints the result and a table of what was reused and why the rest ran.
"""

from __future__ import annotations

import valence as ct


@ct.electron
def load_data():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features, labels = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=0
    )
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train), y_train), (scaler.transform(x_test), y_test)


@ct.electron
def train_model(model_params, data):
    from sklearn.svm import SVC

    features, labels = data
    return SVC(C=model_params["C"], gamma=model_params["gamma"]).fit(features, labels)


@ct.electron
def compute_accuracy(model, test_data):
    from sklearn.metrics import accuracy_score

    features, labels = test_data
    return round(float(accuracy_score(labels, model.predict(features))), 4)


@ct.lattice
def workflow(model_params):
    train_data, test_data = load_data()
    model = train_model(model_params, train_data)
    performance_metric = compute_accuracy(model, test_data)
    return model, performance_metric


@ct.electron
def compute_recall(model, test_data):
    from sklearn.metrics import recall_score

    features, labels = test_data
    return round(float(recall_score(labels, model.predict(features))), 4)


def show(title: str, dispatch_id: str) -> None:
    result = ct.get_result(dispatch_id, wait=True)
    _model, metric = result.result
    print(f"\n== {title}\n   dispatch {dispatch_id}  {result.status}  metric = {metric}")
    if result.redispatched_from:
        print(f"   redispatched from {result.redispatched_from}")
    print(f"   {'node':>4}  {'task':<18} {'decision':<8}  why")
    for node in result.get_all_node_results():
        if node["kind"] not in ("electron", "sublattice"):
            continue
        reason = node["reason"] or {"decision": "run", "text": "first dispatch"}
        name, decision = node["node_name"], reason["decision"]
        print(f"   {node['node_id']:>4}  {name:<18} {decision:<8}  {reason['text']}")


def main() -> None:
    dispatch_id = ct.dispatch(workflow)(model_params={"C": 1.0, "gamma": 0.7})
    show("original dispatch (accuracy)", dispatch_id)

    recall_id = ct.redispatch(
        dispatch_id,
        replace_electrons={"compute_accuracy": compute_recall},
        reuse_previous_results=True,
    )()
    show("redispatch: compute_recall replaces compute_accuracy, reuse on", recall_id)

    plan = ct.redispatch(recall_id, reuse_previous_results=True).plan(
        model_params={"C": 10.0, "gamma": 0.01}
    )
    print("\n== plan for new model_params (nothing runs yet)\n" + str(plan))
    tuned_id = ct.redispatch(recall_id, reuse_previous_results=True)(
        model_params={"C": 10.0, "gamma": 0.01}
    )
    show("redispatch of the redispatch with new model_params", tuned_id)


if __name__ == "__main__":
    main()

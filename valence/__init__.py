"""valence: a Python workflow orchestrator with Covalent's API and provably safe redispatch."""

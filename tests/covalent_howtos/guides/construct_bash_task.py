# Covalent how-to, code cells unchanged except the import line (Apache-2.0):
# doc/source/how_to/coding/construct_bash_task.ipynb
import valence as ct
task = ct.Lepton(
    language="bash",
    command="product=$(({num_1} * {num_2}))",
    argtypes=[
        (int, ct.Lepton.INPUT_OUTPUT),
        (int, ct.Lepton.INPUT_OUTPUT),
        (int, ct.Lepton.OUTPUT)
    ],
    named_outputs=["num_1", "num_2", "product"]
)
@ct.lattice
def bash_multiply_workflow(**kwargs) -> str:
    return task(**kwargs)

result = ct.dispatch_sync(bash_multiply_workflow)(num_1=7, num_2=8).result
print(result)

# Covalent how-to, code cells unchanged except the import line (Apache-2.0):
# doc/source/how_to/coding/construct_lepton.ipynb
import valence as ct
import os

test_module = """
def entrypoint(x: int, y: int) -> int:
    return x + y
"""

with open("test_module.py", "w") as f:
    f.write(test_module)
cwd = os.getcwd()

def set_pythonpath(directory):
    import sys
    print(f"Appending {directory} to module search path")
    sys.path.append(directory)

calldep = ct.DepsCall(set_pythonpath, args=[cwd])
library_path = "test_module"
task = ct.Lepton(
    language = "python",
    library_name = library_path,
    function_name = "entrypoint",
    call_before=[calldep]
)
@ct.lattice
def workflow(x: int) -> int:
    return task(x, 1)

result = ct.dispatch_sync(workflow)(2)
print(result)

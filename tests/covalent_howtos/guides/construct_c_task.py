# Covalent how-to, code cells unchanged except the import line (Apache-2.0):
# doc/source/how_to/coding/construct_c_task.ipynb; the notebook's shell cell
# `!gcc -shared -fPIC -o libtest.so test.c` is run with subprocess.
c_source = """
#include "test.h"

void test_entry(int x, int *y, int *z)
{
        *y += x;
        *z = 5;
}
"""

c_header = """
void test_entry(int x, int *y, int *z);
"""

with open("test.c", "w") as f:
    f.write(c_source)
    
with open("test.h", "w") as f:
    f.write(c_header)
import subprocess; subprocess.run("gcc -shared -fPIC -o libtest.so test.c", shell=True, check=True)
import valence as ct
from ctypes import POINTER, c_int32
import os

library_path = os.path.join(os.getcwd(),"libtest.so")

task = ct.Lepton(
    language = "C",
    library_name = library_path,
    function_name = "test_entry",
    argtypes = [                     # Type conversion info required by the lepton object
        (c_int32, ct.Lepton.INPUT),
        (POINTER(c_int32), ct.Lepton.INPUT_OUTPUT),
        (POINTER(c_int32), ct.Lepton.OUTPUT)
    ]
)
@ct.lattice
def workflow(x: int, y: int) -> int:
    return task(x, y)

dispatch_id = ct.dispatch(workflow)(1, 2)
result = ct.get_result(dispatch_id, wait=True)
print(result.result)

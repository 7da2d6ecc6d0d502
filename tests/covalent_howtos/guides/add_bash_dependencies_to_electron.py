# Covalent how-to, code cells unchanged except the import line (Apache-2.0):
# doc/source/how_to/coding/add_bash_dependencies_to_electron.ipynb
import valence as ct 
@ct.electron(
        deps_bash=ct.DepsBash(["echo `whereis cpp` > /tmp/path.txt"]),
)
def get_bash_result():
    with open('/tmp/path.txt','r') as f:
        return f.read()     
@ct.lattice
def workflow():
    return get_bash_result()

dispatch_id = ct.dispatch(workflow)()
r = ct.get_result(dispatch_id, wait=True)
print(r.result)
@ct.electron(
        deps_bash=["echo `whereis cpp` /tmp/path.txt"],
)
def get_bash_result():
    with open('/tmp/path.txt','r') as f:
        return f.read()   
@ct.lattice
def workflow():
    return get_bash_result()

dispatch_id = ct.dispatch(workflow)()
r = ct.get_result(dispatch_id, wait=True)
print(r.result)

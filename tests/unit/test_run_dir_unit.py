"""A lab's run directory: made safely from any topology name, kept only where asked, and removed
only when it is one (a run state may be forged)."""
import os
import tempfile

from testbed import run_dir


def test_a_run_directory_is_made_in_tmp_whatever_the_topology_name():
    path = run_dir.new('../../etc/x\0' + 'y' * 5000)
    try:
        assert os.path.dirname(path) == tempfile.gettempdir() and os.path.basename(path).startswith('vpclab-')
        assert len(os.path.basename(path)) < 60 and '..' not in path
    finally:
        assert run_dir.remove(path) and not os.path.exists(path)


def test_keep_copies_the_results_without_following_links(tmp_path):
    path = run_dir.new('keep-test')
    try:
        for name in run_dir.RESULTS + ('controller.json',):
            with open(os.path.join(path, name), 'w') as f:
                f.write(f'{name}\n')
        dest = tmp_path / 'out'
        kept = run_dir.keep(path, str(dest))
        assert sorted(os.listdir(dest)) == sorted(run_dir.RESULTS) and len(kept) == 2
        assert (dest / 'controller.log').read_text() == 'controller.log\n'
        victim = tmp_path / 'victim'
        victim.write_text('mine')
        os.unlink(dest / 'controller.log')
        os.symlink(victim, dest / 'controller.log')
        try:
            run_dir.keep(path, str(dest))
            raise AssertionError('wrote through a link')
        except OSError:
            assert victim.read_text() == 'mine'
    finally:
        run_dir.remove(path)


def test_remove_leaves_anything_that_is_not_a_run_directory(tmp_path):
    other = tmp_path / 'vpclab-not-in-tmp'
    other.mkdir()
    link = os.path.join(tempfile.gettempdir(), f'vpclab-link-test-{os.getpid()}')
    os.symlink(other, link)
    try:
        for path in (str(other), link, os.path.join(tempfile.gettempdir(), 'vpclab-x', '..', 'etc'), '/',
                     tempfile.gettempdir(), None, 17, ''):
            assert not run_dir.remove(path)
        assert other.is_dir()
    finally:
        os.unlink(link)

"""The demo generator's bytes are fixed: the same arguments write the same files, byte for byte.

The reference digests were computed once from ``ingest/demo_org.py`` (commit fed48c3) before the
generator moved into the ``demo`` package, so any change to a stream's order, a format detail or a
default shows up here as the file it changed. Regenerate them only for a deliberate format change (the
osquery log's were, when its certificate rows gained `not_valid_before`, which real osquery always reports)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from demo import generate_org
from demo.generate import default_cloud_hosts

# (arguments, digest of counts + highlights + file order, {relative path: sha256})
REFERENCE = [
    (dict(hosts=300, seed=7), 'ebda576a38e07699d8f883f268e738c5da5487311924e39bbadb8f8db4f8e7ce', {
        'aws-ec2-describe-instances.json': '46a0270986ffba51a96da4cb0dc234e54c88e34ebe89e1bbe6c22340a1199dc5',
        'aws-ec2-describe-security-groups.json': '9c3975234eca1b2252897bf14d65f863cdb38a2ee911f7d7e7e96f9fd24713c5',
        'aws-ec2-describe-subnets.json': '6df8ed231fa9a7cd142d6ed04218cda4fb7dd66c2020292dad1a3eb7c35d423d',
        'aws-ec2-describe-vpcs.json': '619002837d9086f123d6c64ad678c09cf7e736cec62b177dbdaa05ce39799db4',
        'aws-iam-credential-report.json': '211f40ced67b79157434e85f0ed4d8bf0385d6648387bdf9eeff89cf055e6de4',
        'certs/example-corp-internal-ca.pem': '0e0c5ce11a75c78f85d203e2f08d75cf2ce30c8b4fd36dcb4a52b1c45bd88371',
        'certs/tls-app-07.pem': 'f787d06ed5f2318556550a6e2313c94e38cc6c9c5b054fb783b04108e9b90423',
        'certs/tls-web-02.pem': '04ba5d1bb397a405f4b8631716e3bf5209de4814c8937ba539582f400c381d00',
        'certs/tls-web-03.pem': '1515f2bebf4b3d06597d2561b22d76f58c8078ac12466b9bf534e1696f8270c4',
        'certs/tls-web-07.pem': '9fa557df030ebf4e17664bd4abbcd65d99b9b4734df164a4249d2e790f76dc4a',
        'certs/tls-web-12.pem': 'bf83c806102af02d00f5bb31961561603f1769c8c83e2eb26b69b438b52f8a93',
        'certs/tls-web-15.pem': '19cf01d8b8a95461dd0f2536a6f07296ed41371c8c2e89486677241c9f50a9be',
        'certs/vpn-ben.johnson2.pem': '4a90aa44f8110deb5ce778b7cadfd05b427b033c1102bac0c14343964d763891',
        'certs/vpn-daniel.anderson.pem': '5360789a62abb9b37f8ecf3265b1a5cacb9008ce6e3a9f895663304477a41b64',
        'certs/vpn-nadia.sanchez.pem': '2bd677e5db4cea85b7cb5f151305efef643dd70e1941edcc8d4df366c25ada29',
        'certs/vpn-nadia.wilson.pem': '0130e987b927c2f8a573f91e70a88d8cc045034557c1fb3a4b5b42d59cb63020',
        'certs/vpn-nadia.young.pem': '426d5df9255d0c385e173585c0ec760d9c747b1af96d804f9dbdcc4cd4bf1a40',
        'certs/vpn-william.kowalski.pem': '9cc2e3b786132b553509131fa3991094f4524eec94a1c51d2fce768190975d00',
        'certs/vpn-zoe.hughes.pem': '9af5e9788aadec70170893b961a9deebb1ddde0599847fa9962c6cecc0a73f50',
        'contracts.csv': '205fb75cdc19763d761a7db087432fb9ae01d3a05e15f1b0c2d5155f6705df8f',
        'coverage-edr.csv': '8533b716f62e14d74f04883fe6044a2816c6f0e649cc3c47940788adc6c73aca',
        'coverage-logging.csv': 'acb43ea696a9d67c8314d8d9451c87fbd00117d47659bb7a40936866a1319a2c',
        'coverage-mdm.csv': '72afd258c0ba55572393c155b85292bcd9c5b6b70c094797337aa3ea2134e4fb',
        'hr.csv': 'dc39a7c6898d99912eb6818cb905b6bcb8620c0a335ba3fa2084988776704752',
        'nmap-10-0-1-0.xml': 'cf076d69399eefad2a99cd2db37ed163061efca90b710eadb54e8f00789c5c54',
        'nmap-10-0-2-0.xml': '89fa77ede278e708eab2acd7f44b36ae7143c19e3546ea4594bb98d1fda518fe',
        'nmap-10-0-3-0.xml': '7a4322d05c525fdafb78f43e2d1b8437ee3ae47159606cc0637c76b71b1d32f4',
        'osquery-results.log': 'bdb9af7be01dbc90f177788f457579b73b71363d6481f11a4627fd1503be5855',
        'sbom-customer-portal.cdx.json': 'a18b6fccc975901b2b237b9f1f685cb116731137acc1e4015cc5408746a69ba7',
        'sbom-payroll-portal.cdx.json': 'eb7b876f5034c570450e04ae0b0ab4d10f9c2ab0a541760a8a2184aad6e86c11',
        'scim-users.json': '2c7f731108cc60b2dc50b7da26cfed0c95df5df2e9631e70004a6929fd8f581e',
        'snipeit-assets.csv': 'e9f842266fcebca44d06222d3d5f3055f5dea96eb1b4dc6e4d61918d07fbfc0c',
        'snipeit-licenses.csv': '93207ccc2c4ecfc396bf9d16d980689ca4a1f79ee56d9fbee613020cd77a2849',
    }),
    (dict(hosts=10, seed=3), '640182a18d3a2682bcdefbdb0eb70037a2124901be72bc17e3fb3e20eed85dbe', {
        'aws-ec2-describe-instances.json': 'c29b21d5945f881dfc07ec7644344d48a1c9fece1528a624b357f02793c618ba',
        'aws-ec2-describe-security-groups.json': 'baec081ec615cae610f405570b530558e0407be1b8133b91678175538ec6f709',
        'aws-ec2-describe-subnets.json': '2934f5c03bc20ab3b8c2f04f2917677a7f6a966dcc3e322542c9fb32a8799245',
        'aws-ec2-describe-vpcs.json': '24e8c0cdbc1b7ea3bffd067a807dbc3e59a5d866cfbfdaca04ae5fb718d55caa',
        'aws-iam-credential-report.json': '4100f378014a117e379343c079347a161e10d9c7282c0752fe4c1c0710ea44d8',
        'certs/example-corp-internal-ca.pem': 'a7a1870e262418dc32d7f95f29ff00c09b3548d05f7ba96164db25ad423ad89e',
        'certs/tls-db-01.pem': '8c280ee960ce36dcbd0d0e7977bf92521551f511857d161c205cac6517a477e6',
        'certs/tls-web-01.pem': '4d85f147572245b83d77d3653e6bbed329cc0bf0126955323ada93cb107eefd8',
        'certs/vpn-aisha.williams.pem': 'ce7bab8ad88b3410e8c7483451476923d32ed12a68d1a9037f4fbcee642b9472',
        'certs/vpn-daniel.martinez.pem': '4d49dd368b7cdfbf579b519d14228407bdd228dbddc316883ac6cfe2b1ffaf39',
        'certs/vpn-david.ivanova.pem': '7233ffe2860d34d6e5d526abe052ffbe2a4ea874a978b45f77b93ff5edc6b0b0',
        'certs/vpn-jin.baker.pem': 'b013735b1d72f76ba1ea5c8d5c79261222a2745ee78e76846b31f99e0e2083b4',
        'certs/vpn-maria.walker.pem': 'da806a33e60c61c62e4fad01622c0462aef87211a70747d980ae70c56055d79d',
        'certs/vpn-nadia.thomas.pem': '0122b8bdd0699c0a3351965212d793f702988fed9ee1da5612a9775475ce39b1',
        'certs/vpn-rachel.roberts.pem': '2a538f317eaa54b60af55de0b5702ad83bdbd3a3bf90be528d5fbeb0d4acf0d0',
        'certs/vpn-thomas.gonzalez.pem': '3840963a0c286cb6c7e04c6a7887fbdf978c2466ffbb99270cc210b9c3d8ab9d',
        'contracts.csv': '905941cdddf9923ea231000ca60def7e7665e02096f725e66b5b18ab3affd3a4',
        'coverage-edr.csv': 'd3c2341a3797e107f2455423ae91648388ad1b6f5aad0533b9ae6c36b5ecf438',
        'coverage-logging.csv': 'fcf28d2e34372befbe86cd7d6a6df447974325de41d0edbc3c01695218b8b034',
        'coverage-mdm.csv': '3c90e66f1f5d000e95e8e48ee71297723e38f196469dc31387403e222dce9411',
        'hr.csv': 'f42f44c5eac5d4625e6ca31d47dc638b0eb6a0d7f5b52b5acbef6d0e2c191000',
        'nmap-10-0-1-0.xml': '0fe3c6f18fa0c16fd98175f4ca7b1ce36f23d503f6cfd9c8482f8009093da221',
        'nmap-10-0-2-0.xml': '4e5506ebffe92e4fedbb61d3be353de8b0409873bd1e86e28d94588dc178bf4c',
        'nmap-10-0-3-0.xml': '4a0185efe72f79dfa21727a7f5eb70dec201ce65aee9734a3f6f80af4048a9ca',
        'osquery-results.log': 'c3e7a35e341289e281dc16c8882a6b3e2eb70113517da61a01909334cafe3b4f',
        'sbom-customer-portal.cdx.json': '9782cb68f569a8759ba4cb6d280ee28bb3dd46e8ea7c1591ca01250353eef2fb',
        'sbom-payroll-portal.cdx.json': 'b0d881b4711bfa2dfff57e8d6a74039005c7fb87698e96c43111ba3304eb5280',
        'scim-users.json': '2e53c5552834ecbd523b1998980ee808bf5f886e9d983bf378957c23cce3ec51',
        'snipeit-assets.csv': 'c7ceeb1a25c25ddf99be44bbe9a7b83d80ed595cbb939e6c71133072294cbf15',
        'snipeit-licenses.csv': 'b0e13ed0d2ba49dfb6b4cdfc50b6e3d37de7f138e824bc5857840dedc655afe5',
    }),
    (dict(hosts=1500, seed=42, subnets=9, cloud_hosts=40, scan_date=date(2025, 2, 28)), 'e33d118622c2a2d51414cb04a51c8c1712a12136ffd37b110b7e885ec6f2b27c', {
        'aws-ec2-describe-instances.json': '66dcd66f40f0f616ee86d3e84ab31ed06daa47e9a1b5fcb08745031811112bf4',
        'aws-ec2-describe-security-groups.json': '2d28da59332c805adfff36b57ec812e9a4e2b3491a18dce8989002feb9d2aedb',
        'aws-ec2-describe-subnets.json': 'c215454e532b05753a6f80158cfc9a6a92debac3330c6e8fc18b031f91c3fdf6',
        'aws-ec2-describe-vpcs.json': '2265f7053c100e132022b621604e91073b47f79b433ddcca0973ff7d3f2056bb',
        'aws-iam-credential-report.json': '505a8b2540e46eb2ed3f25848cee1effe108dd5b957a487a11e75dce279afedc',
        'certs/example-corp-internal-ca.pem': '5f8fe2b61562073385a74a55b843947d5a94be67e47f215a1dd93faaeae306d1',
        'certs/tls-app-23.pem': 'f5a3339170d89a9f8d8d8a272d9b9bb783063f0df6e75e0045e4b300226ba8a4',
        'certs/tls-files-24.pem': 'fe9e8797dd86218be01ffad49fa9edf34f955b519fd9c97486f4a710b22c4ed2',
        'certs/tls-web-12.pem': 'fc8aa8b8acae620900f736c32ef77db14060db11f7ffbd518ccc5951f0eb482b',
        'certs/tls-web-19.pem': '0f59c7b7d792487b3fed8725a80b5c8f0d7c0fa7247d54e10960aafbcaf81ba0',
        'certs/tls-web-57.pem': 'ab7a75116308c856ddfcf5e116a1ae745bffc20ded489121903bf82bd9e8444a',
        'certs/tls-web-87.pem': '14699b35f783a6fb051b857d09736882f4247cc82ab0b8bd1d25cfca91f6f09a',
        'certs/vpn-hannah.singh.pem': 'a4477b2b40b8178e385f98dcc9777be8cec43eb44c20f8a360568e3da10be0a7',
        'certs/vpn-maria.smith3.pem': 'a48eaf7128d017c94df3e56d6db03d710da17c08b1ea3bca475089cb8a72f925',
        'certs/vpn-michael.clark.pem': '8720b513677a8df219fb866ba91033d27c0d7bd4c4489ce580b0fa2425e5e1e0',
        'certs/vpn-mohammed.evans.pem': '83893ca7b69da2be7f51d6c26019095b3f7d5e666029e34e12e02a1fd776b104',
        'certs/vpn-omar.schmidt.pem': 'a3c75df0f2ba141b0289b9a91633a3fad4157fcfc03e458bee194f72c1af52a3',
        'certs/vpn-rahul.perez.pem': '100ffa9f3aa7a8368dba88a10daab90b67ba6c3fc7553e733b762ecf739d37f5',
        'certs/vpn-zoe.smith.pem': '4e5c21f13bda588659f69d065f4f86214dccd320f83ae63523565ca08b8ad5e1',
        'contracts.csv': '031a57f72f9864b8d139258db0a4342ace135ba9b08810488ffd2b1fbab6c633',
        'coverage-edr.csv': '4ab4ffb63bce72946367f1e93518bc1f8e0d9005ac9d855be8778e397abb422b',
        'coverage-logging.csv': 'eb06b878e95622840a5447a2a7b906123fb8f854c3783ee8e0763f11f724e396',
        'coverage-mdm.csv': 'e3c5a235e7514aec7d568eac63a6de75e79eb54036218a0ae18f09f12e777e86',
        'hr.csv': '6611873460888a2df03716c8947c4ec0c8d3c154390bd43cafad4f39643a9798',
        'nmap-10-0-1-0.xml': '44881e9bc3a32526509484be91b69a2a576ca36973bc6d5a3adb3890b17196e8',
        'nmap-10-0-2-0.xml': '9ee8363a64c0969160bfad5645a5bb145dd35a32752db3f63e1e52cc016902f6',
        'nmap-10-0-3-0.xml': '345348a2573b7680c5c66e5664b7b7094306e72fb5686f5be4a2167983a30665',
        'nmap-10-0-4-0.xml': '186de9684dc15137c296c5d3891aac3f69fc1129af12b0deebbffae61f0a0d54',
        'nmap-10-0-5-0.xml': '49c6a50a02ec1f82020a6312f337da2694b48ef4461f26e3dd90ae9b2b15e65b',
        'nmap-10-0-6-0.xml': '99f8d94da7e1cf9689b136cf7335a40a09e08621b9da8aa8897d54fc69d87f0c',
        'nmap-10-0-7-0.xml': '3f3b8da8de04d26525c154061cad3262a70aee7f07dfddf98f4cad9d6e879a3b',
        'nmap-10-0-8-0.xml': '9f2182fbd83e2ec15bfa579e5c49252ffcf0d50e79c0fb93e2764b5a88c765bd',
        'nmap-10-0-9-0.xml': 'd4fb5d17ccd6e6ead9c23f16034c7d20cc4cfa6cf1d4809df7010562ad114df5',
        'osquery-results.log': 'c101c50c54faa764d41055ab2a578e54c518028f7c87aec8258c796501ca48ca',
        'sbom-customer-portal.cdx.json': 'ad1d354a69630ec42aee420ba07c5b0d5d952201c85abd13fc988963a2b01a73',
        'sbom-payroll-portal.cdx.json': '20c9997fe10947b89e6401e320fbf48430e218d36512d9429c66f1f306f5991f',
        'scim-users.json': '16230cc31cf3ee74465b4fadbf38f1e77fef30e0436069acd3b0855c82e212f2',
        'snipeit-assets.csv': '9bc936aad956fa45e94c5a8769da3f9a5857a60615e60e5593912c1b65662fa3',
        'snipeit-licenses.csv': 'e1337c7ecb98f7945b7761666818db146f434681fe823479a11a32e726e59883',
    }),
]


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest_digest(manifest, folder: Path) -> str:
    summary = {"counts": manifest.counts, "highlights": manifest.highlights,
               "files": [str(p.relative_to(folder)) for p in manifest.files]}
    return hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("arguments, manifest_sha, files", REFERENCE, ids=["default-300", "tiny-10", "leap-day-1500"])
def test_every_file_is_byte_identical_to_the_reference(tmp_path, arguments, manifest_sha, files):
    manifest = generate_org(tmp_path, **arguments)
    written = digests(tmp_path)
    assert sorted(written) == sorted(files)
    changed = sorted(name for name in files if written[name] != files[name])
    assert changed == []
    assert manifest_digest(manifest, tmp_path) == manifest_sha


def test_the_command_line_writes_the_same_files(tmp_path):
    arguments, manifest_sha, files = REFERENCE[1]
    done = subprocess.run([sys.executable, "-m", "demo", str(tmp_path), "--hosts", "10", "--seed", "3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["assets"] == 10
    assert digests(tmp_path) == files


def test_the_default_cloud_is_a_tenth_of_the_hosts_within_what_the_vpc_holds():
    assert [default_cloud_hosts(n) for n in (10, 54, 56, 1000)] == [5, 5, 6, 100]
    assert default_cloud_hosts(600_000) == 60_000
    assert default_cloud_hosts(600_010) == 60_000       # a tenth would be 60,001: more than 15 /20s hold
    assert default_cloud_hosts(1_000_000) == 60_000

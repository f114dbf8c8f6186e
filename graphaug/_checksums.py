"""Sizes and SHA-256 of the raw files of the datasets the project documents (generated from the
copies in the project's shared data folder; see its README for each file's source).

Only files that are the published originals are listed: the rebuilt `DD_A.txt` and
`REDDIT-BINARY_A.txt` and the OGB folders rebuilt from MoleculeNet CSVs (ogbg-molhiv,
-moltox21, -molsider, -mollipo) are not, so the official downloads of those still load. TU
paths are relative to `<NAME>/raw`, OGB paths to `<name with _>/`. Datasets or files
without an entry are validated as usual (`graphaug.data.validate_tu_files`).
"""

#: `{"TU/<NAME>" | "ogb/<name>": {relative path: (size in bytes, sha256 hex)}}`
KNOWN_RAW_FILES: dict[str, dict[str, tuple[int, str]]] = {
    "TU/DD": {
        "DD_graph_indicator.txt":
            (1319775, "95aabe75f6537326a14e4efc0d006854c20769f3cfc4877b862803d21c51aff2"),
        "DD_graph_labels.txt":
            (2356, "b9df6495feb673f79dea357cca30e08f8602e52d978c77b53ec2552d1cb2ab4e"),
        "DD_node_labels.txt":
            (853624, "b0d10b05702c2d655d691b5a6f5585081993860013eeab801572202df1c5c108"),
    },
    "TU/ENZYMES": {
        "ENZYMES_A.txt":
            (885124, "5553c84f8f562f3e199dfd27192174f485e85c44c1357661098668937a739cbf"),
        "ENZYMES_graph_indicator.txt":
            (74914, "95ba0fa47eba6f02e6b754a215dc66d5b49de3f45f57a128514301a8d7ed5f46"),
        "ENZYMES_graph_labels.txt":
            (1200, "04743e08967e61e65cdacbb90f8df6ee53742b3d2e7b84675b85ebac70506856"),
        "ENZYMES_node_attributes.txt":
            (3876850, "305a8fc3b12f79fb844ef3374d6a3c8ceeb4887dd4f86bbfe37932c4c5434e7b"),
        "ENZYMES_node_labels.txt":
            (39160, "8263eb9b64efa231a5886343483ccfc0342f2407014763a8f738fd51c32ce770"),
    },
    "TU/IMDB-BINARY": {
        "IMDB-BINARY_A.txt":
            (4596012, "23c8964bab82f81469271186d721131714a265d0ca8c44ae048118da1d0c4092"),
        "IMDB-BINARY_graph_indicator.txt":
            (76924, "415cc3ba25b8c647dcf34d3de034f675ee070616f3b803be939cb26773489f26"),
        "IMDB-BINARY_graph_labels.txt":
            (2000, "63a44411fd6342b9c4429828c16e144a2a11ef5244e25bb60f0ffa8b3ee2ffce"),
    },
    "TU/IMDB-MULTI": {
        "IMDB-MULTI_A.txt":
            (4702980, "fb538b23758d78df199272301e57dc74ad5754d6c3d79d5ed0a343193ddf4ec6"),
        "IMDB-MULTI_graph_indicator.txt":
            (82760, "0274532a0e47dad9cdd21c08995c2265e43040a2c2a3b36c62fdb790994571d3"),
        "IMDB-MULTI_graph_labels.txt":
            (3000, "613c2357b6b996f6f04b91697a99da87774820f9d08bf22813992f4c7afda855"),
    },
    "TU/MUTAG": {
        "MUTAG_A.txt": (76940, "d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2"),
        "MUTAG_edge_labels.txt":
            (14884, "4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56"),
        "MUTAG_graph_indicator.txt":
            (11532, "7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056"),
        "MUTAG_graph_labels.txt":
            (439, "a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c"),
        "MUTAG_node_labels.txt":
            (6742, "678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863"),
    },
    "TU/NCI1": {
        "NCI1_A.txt":
            (3235898, "2c028eda59a5fe96e2265a63d9ac236901bd9a7dc658498be13cd704a703076d"),
        "NCI1_graph_indicator.txt":
            (585267, "ffe5acfa754b057d5ce0dc725c5aadb631628161886cc040d38c719635257dc5"),
        "NCI1_graph_labels.txt":
            (8220, "fae44681e70113f496256ae87eaac33b7836e3a97fe8e023933b84fde6a5c8a2"),
        "NCI1_node_labels.txt":
            (245932, "dc0a22b6cbff0c939de00373e823977ba32b358f560e4288d7602f7b51407ee2"),
    },
    "TU/PROTEINS": {
        "PROTEINS_A.txt":
            (2022990, "4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67"),
        "PROTEINS_graph_indicator.txt":
            (169673, "8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a"),
        "PROTEINS_graph_labels.txt":
            (2226, "c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd"),
        "PROTEINS_node_attributes.txt":
            (478190, "54eef829abb37e458a5fbf3a3c581e48e5810e220463c2cd951856b9ceb08f07"),
        "PROTEINS_node_labels.txt":
            (86942, "f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d"),
    },
    "TU/PTC_MR": {
        "PTC_MR_A.txt":
            (106642, "f79523ff94dfbef539e5602a8ac1931a50a2800f33fa1d30e5e31725289b5202"),
        "PTC_MR_edge_labels.txt":
            (20216, "acee2f93b52175a329009dc837bea9db7c2a121c2ef0b1587b38bbe6fc9b8177"),
        "PTC_MR_graph_indicator.txt":
            (18155, "d52754f3cbc54e29324f884b4c17200c16e06db0c499afae300b4fa1bb6d794b"),
        "PTC_MR_graph_labels.txt":
            (880, "64210accbe4c6c027535b1294e0da652b1f539667f7a2d4bf5121dcd8b00a224"),
        "PTC_MR_node_labels.txt":
            (9842, "cc50d1e1c5f4c98b2100cf50c5ddd88ff28b419a9180d531046b75ce22983235"),
    },
    "TU/REDDIT-BINARY": {
        "REDDIT-BINARY_graph_indicator.txt":
            (3748882, "fad8bb968f18c038d3dcd429c0387dc153d2b4e5880b2f55422444acd939deeb"),
        "REDDIT-BINARY_graph_labels.txt":
            (5000, "06c3b8209797dacc2aacb74f9ac4e5d81083f998dab96f38ff19279874059813"),
    },
    "ogb/ogbg-molbace": {
        "RELEASE_v1.txt": (71, "e6f109fcccdf572054b90b9d42e25f5b0a9ea08580c3d5b437780d2642510a57"),
        "raw/edge-feat.csv.gz":
            (10220, "089c1ee7c5561a0e81623780d0808e10feb2aa789a48b1fef260ad3f3494013b"),
        "raw/edge.csv.gz":
            (25449, "014e9475134c9c20300fda5d8115bd0c5f192185cd74c6f8921afc28f6359ce7"),
        "raw/graph-label.csv.gz":
            (71, "a93fed4e7bf6ef1fe8b6bd79e5a4eb984d9a5ccaa4f51d6cb1accecff836b632"),
        "raw/node-feat.csv.gz":
            (23635, "bd031b6fd3d699c2ee4527e778e298bc0ae52439b9b720311789f83803a6025a"),
        "raw/num-edge-list.csv.gz":
            (1521, "78e201ed1abfd581096a3e5ba32a18ccca8e872f89c05bec1f9e52f25a7a5f76"),
        "raw/num-node-list.csv.gz":
            (1507, "ca6e661f0d4323c90543e9539971ba8695a763aac0df2e8e1c6d141985a9a2fa"),
        "split/scaffold/test.csv.gz":
            (300, "8e6ede054b28f5953912996c1d59c0d8b0c7ef252b3f2679c251d205c8438755"),
        "split/scaffold/train.csv.gz":
            (2532, "5f20fb296650872fc91d8af37ed3afdd6d4cd32b52e53763d543bf1b6aa89b26"),
        "split/scaffold/valid.csv.gz":
            (314, "f06cb03da9a5f5609c4600f1e01148eb54779351086aede3305643335657bd66"),
    },
    "ogb/ogbg-molbbbp": {
        "RELEASE_v1.txt": (71, "e6f109fcccdf572054b90b9d42e25f5b0a9ea08580c3d5b437780d2642510a57"),
        "raw/edge-feat.csv.gz":
            (13478, "63c88ff2aa95429411dce45f9cba68a7e06bbc793524a9bc4ec13179a5cea125"),
        "raw/edge.csv.gz":
            (31762, "1b5843cd8221fda188809da6e60c1c27b4831cc01c568ecbe362e3532b1ccb25"),
        "raw/graph-label.csv.gz":
            (181, "99ae33f3f36ac7fed4a755c4912a170c0f1810e0688e6fba76d75831d4686f4f"),
        "raw/node-feat.csv.gz":
            (36959, "90b47004f3ce80a6495c8add546ae360d4c6e7356f5360664c0b041eac07df34"),
        "raw/num-edge-list.csv.gz":
            (2082, "552429af844e8d806155bb5e8bd59308528dc8d7d34d6a3f19a27e0d910fc87f"),
        "raw/num-node-list.csv.gz":
            (2035, "859b4d14247fc8d03b50661d17b453a23d966e3bfa22b66edb46d2e54acf36d6"),
        "split/scaffold/test.csv.gz":
            (402, "2561d4164f8e33163d6484bcce005578b7a3de3b00b4630c072bf56219a21451"),
        "split/scaffold/train.csv.gz":
            (3469, "e1ae77b817d05b63af3ec5aa7ab1e170ebebc0849cb7712fe11b29a48999cc75"),
        "split/scaffold/valid.csv.gz":
            (406, "0b20d30453c99a703a672e0c023bea9e198315db3c92c094cfc610b9853b8ca6"),
    },
    "ogb/ogbg-molesol": {
        "RELEASE_v1.txt": (71, "e6f109fcccdf572054b90b9d42e25f5b0a9ea08580c3d5b437780d2642510a57"),
        "raw/edge-feat.csv.gz":
            (4116, "da5e2351193a7ef5cd3d4d78a9527797d52ca64e5af52ea4f14adcafdb0c1693"),
        "raw/edge.csv.gz":
            (7414, "d4fbb9ea8127e76ac915bb650d61db36e5e5ae2695b2e869818e7632d7bec0af"),
        "raw/graph-label.csv.gz":
            (2646, "049ab083983327bd4e2d0bcdb019d6ae4c0316ae676e6add0403a5a7e94c5cad"),
        "raw/node-feat.csv.gz":
            (10519, "1500decb89013de31586a9725b3fe984b84cb2696f8411880ddbb09ecb3112f0"),
        "raw/num-edge-list.csv.gz":
            (1081, "8cc54b817d1f5c999cfd69dc9c09aebdddee942f8fd95f2462fb53699eae9ce0"),
        "raw/num-node-list.csv.gz":
            (1059, "57de66bbe53142b5bd7329e8aa5e7812dfbeffe80b6ba500b14e7d354aaa17ac"),
        "split/scaffold/test.csv.gz":
            (237, "3a2367389a4d0f2d3cada1ba19d82c83edcb4db58bd564273b14b8a33749cde2"),
        "split/scaffold/train.csv.gz":
            (1798, "07a08a743001b8faa61ffb62130ac60e4f89355912fd798da7a471e233cb5d1b"),
        "split/scaffold/valid.csv.gz":
            (251, "fc4ddf102e27ab6436128e151dc1e83c9f2cf2be3e8c4007543dcf97bd13ff53"),
    },
    "ogb/ogbg-molfreesolv": {
        "RELEASE_v1.txt": (71, "e6f109fcccdf572054b90b9d42e25f5b0a9ea08580c3d5b437780d2642510a57"),
        "raw/edge-feat.csv.gz":
            (1441, "4452afab3488e10c904273869772d56dbe8999d05f59c295c5da771b243b08d6"),
        "raw/edge.csv.gz":
            (2587, "adafd5b17b4d744d165993e47b1c4b9594ab15b443d4b06914b556ce8068b981"),
        "raw/graph-label.csv.gz":
            (1425, "70f2a5492e15e12efd8232e77de4bcc424a8592ebb59512df511c80047aa5dff"),
        "raw/node-feat.csv.gz":
            (4114, "27bbc31354d94d402d5d3b4036192a0f8dd0cd522cf4ceb579b451e7e3b58098"),
        "raw/num-edge-list.csv.gz":
            (574, "e33e4a165783062b81f2d163907153f7cc19e6fc177b8039873b11f094d713c2"),
        "raw/num-node-list.csv.gz":
            (567, "ea4163f5cf6745a8f18f270fea7a492765057a8eafb1f54300a2febafb353df9"),
        "split/scaffold/test.csv.gz":
            (160, "03bd483c8c2b4997aa560dd9e2c201faacb1768fb6411df7cfc5b96959e73a6d"),
        "split/scaffold/train.csv.gz":
            (970, "6fbefde21d5380762445203528e5d8f4cee22b2ca57c40047a679c5528f48e83"),
        "split/scaffold/valid.csv.gz":
            (162, "b5c18ff6c6974d6da6f3567ba4eebc9c66f5670b93ea12e0a7bb4f6b82c16bda"),
    },
}

"""The accounts of the security suite's engines: ``root`` is the admin (first user), ``alice`` the attacker,
``bob`` the bystander."""
USERS = {"root": "root-pw", "alice": "alice-pw", "bob": "bob-pw"}

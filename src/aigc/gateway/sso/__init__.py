"""Single sign-on with OpenID Connect: providers, claim mapping, the code flow, sign-in."""

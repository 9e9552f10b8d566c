//! The `Link: <url>; rel="ice-server"` headers of a WHEP answer (RFC 9725 §4.6): the STUN and
//! TURN servers a player should use, with fresh TURN credentials, as `GET /ice-servers` gives
//! them to the viewer page.

use camview_proto::rest::IceServersResponse;

/// One `Link` value per server URL.
pub fn ice_server_links(servers: &IceServersResponse) -> Vec<String> {
    let mut links = Vec::new();
    for server in &servers.ice_servers {
        for url in &server.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(username), Some(credential)) = (&server.username, &server.credential) {
                link.push_str(&format!(
                    "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                    quoted(username),
                    quoted(credential)
                ));
            }
            links.push(link);
        }
    }
    links
}

/// A value safe inside a quoted-string (credentials are base64 and digits; never trust it).
fn quoted(value: &str) -> String {
    value.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_proto::rest::IceServer;

    #[test]
    fn stun_and_turn_servers_become_link_headers_with_turn_credentials() {
        let servers = IceServersResponse {
            ice_servers: vec![
                IceServer { urls: vec!["stun:stun.example:3478".into()], username: None, credential: None },
                IceServer {
                    urls: vec!["turn:t.example:3478?transport=udp".into(), "turns:t.example:5349".into()],
                    username: Some("1700086400:camview".into()),
                    credential: Some("r+jg\"pM=".into()),
                },
            ],
        };
        let links = ice_server_links(&servers);
        assert_eq!(links.len(), 3);
        assert_eq!(links[0], "<stun:stun.example:3478>; rel=\"ice-server\"");
        assert_eq!(
            links[1],
            "<turn:t.example:3478?transport=udp>; rel=\"ice-server\"; username=\"1700086400:camview\"; \
             credential=\"r+jgpM=\"; credential-type=\"password\""
        );
        assert!(links[2].starts_with("<turns:t.example:5349>; rel=\"ice-server\"; username="));
    }
}

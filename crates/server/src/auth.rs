//! Signed, expiring tokens (JWT, HS256).
//!
//! - A *join token* lets one member into one class with one role and name.
//! - An *invite* is what a student link carries: it names a class, not a person. Whoever
//!   holds it picks a display name and gets a join token for a fresh member id.

use aula_proto::{ErrorCode, MemberId, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Join,
    Invite,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Member id for join tokens; the invite's own id for invites.
    pub sub: String,
    /// Class id.
    pub cls: String,
    pub role: Role,
    pub name: String,
    pub knd: TokenKind,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    pub iat: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("this is not a {0:?} token")]
    WrongKind(TokenKind),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) | AuthError::WrongKind(_) => ErrorCode::InvalidToken,
        }
    }
}

pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenAuthority {
    pub fn new(secret: &[u8]) -> Self {
        TokenAuthority {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn mint(&self, claims: &Claims) -> String {
        // Encoding HS256 with an in-memory key cannot fail for these plain claims.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, expiry (at `now_s`, no leeway) and kind.
    pub fn verify(&self, token: &str, kind: TokenKind, now_s: u64) -> Result<Claims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the caller's clock, so tests can move time.
        v.validate_exp = false;
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid(e.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.exp <= now_s {
            return Err(AuthError::Expired);
        }
        if claims.knd != kind {
            return Err(AuthError::WrongKind(kind));
        }
        Ok(claims)
    }

    pub fn join_token(
        &self,
        class: &str,
        member: &MemberId,
        role: Role,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        let exp = now_s + ttl_s;
        let claims = Claims {
            sub: member.0.clone(),
            cls: class.to_owned(),
            role,
            name: name.to_owned(),
            knd: TokenKind::Join,
            exp,
            iat: now_s,
        };
        (self.mint(&claims), exp)
    }

    /// An open class link: anyone with it joins under a name of their choice.
    pub fn invite(&self, class: &str, now_s: u64, ttl_s: u64) -> (String, u64) {
        self.personal_invite(class, &MemberId(random_id()), "", now_s, ttl_s)
    }
}

/// 16 hex digits: unique enough for member and class ids, and valid in an msid.
impl TokenAuthority {
    /// A link for one roster student: whoever joins with it is that member, under that
    /// name, in every session.
    pub fn personal_invite(
        &self,
        class: &str,
        member: &MemberId,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        let exp = now_s + ttl_s;
        let claims = Claims {
            sub: member.0.clone(),
            cls: class.to_owned(),
            role: Role::Student,
            name: name.to_owned(),
            knd: TokenKind::Invite,
            exp,
            iat: now_s,
        };
        (self.mint(&claims), exp)
    }
}

impl Claims {
    /// An open class link carries no name; a roster student's personal link does.
    pub fn is_personal(&self) -> bool {
        self.knd == TokenKind::Invite && !self.name.is_empty()
    }
}

pub fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A display name as people type it: trimmed, 1 to 64 characters, no control characters.
pub fn clean_display_name(raw: &str) -> Option<String> {
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    let count = name.chars().count();
    (1..=64).contains(&count).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_token_round_trips_and_expires() {
        let a = TokenAuthority::new(b"secret-one");
        let (t, exp) = a.join_token("c1", &MemberId("m1".into()), Role::Teacher, "Ana", 1000, 60);
        assert_eq!(exp, 1060);
        let c = a.verify(&t, TokenKind::Join, 1059).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.cls.as_str(), c.role),
            ("m1", "c1", Role::Teacher)
        );
        assert_eq!(
            a.verify(&t, TokenKind::Join, 1060).unwrap_err(),
            AuthError::Expired
        );
        assert_eq!(
            a.verify(&t, TokenKind::Invite, 1000).unwrap_err().code(),
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let a = TokenAuthority::new(b"secret-one");
        let b = TokenAuthority::new(b"secret-two");
        let (t, _) = b.join_token("c1", &MemberId("m1".into()), Role::Teacher, "Eve", 1000, 60);
        assert_eq!(
            a.verify(&t, TokenKind::Join, 1000).unwrap_err().code(),
            ErrorCode::InvalidToken
        );
        assert!(a.verify("garbage", TokenKind::Join, 0).is_err());
        // A student token with the role edited in the payload breaks the signature.
        let (s, _) = a.join_token("c1", &MemberId("m2".into()), Role::Student, "Sam", 1000, 60);
        let mut parts: Vec<String> = s.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('A', "B", 1);
        assert!(a.verify(&parts.join("."), TokenKind::Join, 1000).is_err());
    }

    #[test]
    fn display_names_are_cleaned() {
        assert_eq!(clean_display_name("  Ana \n").as_deref(), Some("Ana"));
        assert_eq!(clean_display_name("   "), None);
        assert_eq!(clean_display_name(&"x".repeat(65)), None);
        assert_eq!(clean_display_name("Zoë\u{7}").as_deref(), Some("Zoë"));
    }
}
